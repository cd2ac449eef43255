"""Browser (issue 22): every chat flow in one conversation leaves the page consistent without a reload — send, stop,
continue, regenerate, switch version, edit in place, feedback, a refusal with its countdown — and what the page
shows survives a reload (the version chosen, the knowledge base chosen)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ARTIFACTS, LiveServer, add_live_user, login, wait_idle
from tests.fakes.provider_server import FakeProviderServer, Reply

pytestmark = pytest.mark.browser

POEM = "Roses are red,\nviolets are blue,\nthe sea is deep."


@pytest.fixture(scope="module")
def server_env(fake_openai: FakeProviderServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-good-key", "PARLEY_PROVIDERS__OPENAI__BASE_URL": fake_openai.openai_url,
            "PARLEY_PROVIDERS__OPENAI__MAX_RETRIES": "0", "PARLEY_CHAT__DEFAULT_PROVIDER": "openai",
            "PARLEY_CHAT__FALLBACK": "[]", "PARLEY_LIMITS__USER__REQUESTS_PER_MINUTE": "12",
            "PARLEY_ATTACHMENTS__INLINE_DOCUMENT_TOKENS": "5"}  # an attached document goes by its passages


@pytest.fixture(autouse=True)
def _own_replies(fake_openai: FakeProviderServer) -> None:
    """A reply one test queued and did not use (a slow machine's timing) must not answer the next test."""
    for queue in fake_openai.queues.values():
        queue.clear()


def _send(page: Page, text: str) -> None:
    """Type and send; sent again if a run that was just starting (a reload's second run) swallowed it."""
    box = page.get_by_test_id("stChatInputTextArea")
    for _ in range(2):
        box.fill(text)
        page.keyboard.press("Enter")
        try:
            expect(page.get_by_test_id("stChatMessage").filter(has_text=text)).not_to_have_count(0, timeout=10_000)
            return
        except AssertionError:
            wait_idle(page)
    raise AssertionError(f"{text!r} was not sent")


def _bubbles(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_test_id("stChatMessage")


def _click(page: Page, name: str, *, index: int = 0) -> None:
    page.get_by_role("button", name=name).nth(index).click()
    wait_idle(page, timeout=60_000)


def _knowledge_base(server: LiveServer, owner: str) -> None:
    from sqlmodel import Session, select

    from core.db import make_engine
    from core.knowledge import create_knowledge_base
    from core.models import User

    engine = make_engine(f"sqlite:///{server.data_dir / 'parley.db'}")
    with Session(engine) as session:
        uid = session.exec(select(User.id).where(User.username == owner)).one()
        create_knowledge_base(session=session, user_id=uid, name="Handbook")
        session.commit()
    engine.dispose()


def _stored_feedback(server: LiveServer) -> list[tuple[int, str]]:
    from sqlmodel import Session, select

    from core.db import make_engine
    from core.models import Feedback

    engine = make_engine(f"sqlite:///{server.data_dir / 'parley.db'}")
    with Session(engine) as session:
        rows = [(f.rating, f.comment) for f in session.exec(select(Feedback))]
    engine.dispose()
    return rows


def test_every_chat_flow_in_one_conversation_without_a_reload(live_server: LiveServer, browser: Browser,
                                                                fake_openai: FakeProviderServer) -> None:
    add_live_user(live_server, "walker", "Walker-pass-123")
    _knowledge_base(live_server, "walker")
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    login(page, live_server.url, "walker", "Walker-pass-123")

    # Send: a three-line reply shows three lines.
    fake_openai.enqueue("openai", Reply(chunks=list(POEM)))
    _send(page, "A poem, please.")
    wait_idle(page, timeout=60_000)
    reply = _bubbles(page).nth(1)
    expect(reply).to_contain_text("violets are blue")
    assert reply.get_by_test_id("stMarkdownContainer").first.locator("br").count() == 2
    expect(page.get_by_text("11 of 12 requests left this minute")).to_be_visible()
    expect(page.get_by_role("button", name="A poem, please.")).to_be_visible()  # listed in the sidebar

    # Stop mid-reply: marker, Continue, Regenerate, Edit and the quota line, all without a reload.
    fake_openai.enqueue("openai", Reply(chunks=[f"word{n} " for n in range(400)], chunk_delay=0.05))
    _send(page, "Count slowly.")
    page.wait_for_function("() => { const m = document.querySelectorAll('[data-testid=stChatMessage]'); "
                           "return m.length > 3 && m[3].innerText.includes('word20'); }", timeout=30_000)
    page.get_by_role("button", name="Stop").click()
    wait_idle(page, timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-stopped.png"), full_page=True)
    expect(page.get_by_text("Stopped — partial reply kept.")).to_be_visible()
    for name in ("Continue", "Regenerate"):
        expect(page.get_by_role("button", name=name)).to_be_visible()
    expect(page.get_by_role("button", name="Edit")).to_have_count(2)
    expect(page.get_by_text("10 of 12 requests left this minute")).to_be_visible()
    expect(page.get_by_text("requests left this minute")).to_have_count(1)  # one quota line, never a stale one

    # Continue after a stop appends to the same reply.
    fake_openai.enqueue("openai", Reply(chunks=[" THE END."]))
    _click(page, "Continue")
    expect(_bubbles(page)).to_have_count(4)
    expect(_bubbles(page).nth(3)).to_contain_text("THE END.")
    expect(page.get_by_text("Stopped — partial reply kept.")).to_have_count(0)

    # A reply cut at the token limit: marker and Continue.
    fake_openai.enqueue("openai", Reply(chunks=["Half a sentence"], finish_reason="length"))
    _send(page, "Something long.")
    wait_idle(page, timeout=60_000)
    expect(page.get_by_text("Cut at the token limit")).to_be_visible()
    fake_openai.enqueue("openai", Reply(chunks=[" and the rest."]))
    _click(page, "Continue")
    expect(_bubbles(page).nth(5)).to_contain_text("Half a sentence and the rest.")

    # Regenerate twice: 3/3; back to 1/3; a reload keeps 1/3; the next message continues from version 1.
    fake_openai.enqueue("openai", Reply(chunks=["second version"]))
    _click(page, "Regenerate")
    fake_openai.enqueue("openai", Reply(chunks=["third version"]))
    _click(page, "Regenerate")
    expect(page.get_by_text("3/3")).to_be_visible()
    _click(page, "‹")
    _click(page, "‹")
    expect(page.get_by_text("1/3")).to_be_visible()
    expect(_bubbles(page).nth(5)).to_contain_text("Half a sentence and the rest.")
    page.reload()
    wait_idle(page)
    expect(page.get_by_text("1/3")).to_be_visible()
    fake_openai.enqueue("openai", Reply(chunks=["Noted."]))
    _send(page, "Thanks.")
    wait_idle(page, timeout=60_000)
    sent = [m["content"] for m in fake_openai.calls("/chat/completions")[-1].body["messages"]]
    assert "Half a sentence and the rest." in sent and "third version" not in sent

    # Feedback given, then changed, with a comment.
    _bubbles(page).nth(7).locator("[aria-label='Thumbs up']").click()
    wait_idle(page)
    _bubbles(page).nth(7).get_by_role("button", name="Comment").click()
    page.get_by_label("Comment (optional)").fill("Short and right.")
    page.get_by_role("button", name="Save").click()
    wait_idle(page)
    _bubbles(page).nth(7).locator("[aria-label='Thumbs down']").click()
    wait_idle(page)
    page.reload()
    wait_idle(page)
    expect(_bubbles(page).nth(7).locator("[aria-label='Thumbs down']")).to_have_attribute("aria-checked", "true")
    assert _stored_feedback(live_server) == [(-1, "Short and right.")]
    expect(page.get_by_text("1/3")).to_be_visible()  # the version shown is still the chosen one

    # Edit in place: the box opens inside the message, the new version answers, the old one stays as 1/2.
    first_question = _bubbles(page).nth(0)
    first_question.get_by_role("button", name="Edit").click()
    wait_idle(page)
    box = _bubbles(page).nth(0).get_by_label("Edit your message")
    expect(box).to_be_visible()
    assert box.bounding_box() is not None and box.bounding_box()["y"] < 600  # type: ignore[index]  # in place
    box.fill("A haiku, please.")
    fake_openai.enqueue("openai", Reply(chunks=["Old pond\nfrog jumps in\nsplash"]))
    _bubbles(page).nth(0).get_by_role("button", name="Send").click()
    wait_idle(page, timeout=60_000)
    expect(_bubbles(page)).to_have_count(2)
    expect(_bubbles(page).nth(0)).to_contain_text("A haiku, please.")
    expect(_bubbles(page).nth(0)).to_contain_text("2/2")

    # The knowledge-base choice belongs to the conversation: it survives a reload.
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stMultiSelect").click()
    page.get_by_role("option", name="Handbook").click()
    page.keyboard.press("Escape")
    wait_idle(page)
    fake_openai.enqueue("openai", Reply(chunks=["From the handbook."]))
    _send(page, "What does the handbook say?")
    wait_idle(page, timeout=60_000)
    page.reload()
    wait_idle(page)
    expect(page.get_by_test_id("stSidebar").get_by_text("Handbook")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-versions.png"), full_page=True)
    page.close()


def test_a_refusal_counts_down_and_keeps_the_message(live_server: LiveServer, browser: Browser,
                                                      fake_openai: FakeProviderServer) -> None:
    from sqlmodel import Session

    from core.db import make_engine
    from core.models import LimitPolicy
    from tests.conftest import add_user

    engine = make_engine(f"sqlite:///{live_server.data_dir / 'parley.db'}")
    with Session(engine) as session:  # this user's own override: one request a minute
        session.add(LimitPolicy(user_id=add_user(session, "hasty", "Hasty-pass-123"), requests_per_minute=1))
        session.commit()
    engine.dispose()
    page = browser.new_page()
    login(page, live_server.url, "hasty", "Hasty-pass-123")
    fake_openai.enqueue("openai", Reply(chunks=["ok"]))
    _send(page, "message")
    wait_idle(page, timeout=60_000)
    page.get_by_test_id("stChatInputTextArea").fill("One too many.")
    page.keyboard.press("Enter")
    wait_idle(page)
    expect(page.get_by_label("Your message (not sent yet)")).to_have_value("One too many.")
    countdown = page.get_by_text("You can send again in")
    expect(countdown).to_be_visible()
    first = countdown.inner_text()
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_disabled()
    page.wait_for_function("(t) => !document.body.innerText.includes(t)", arg=first, timeout=5_000)  # it counts
    page.close()


def test_copy_puts_the_raw_markdown_on_the_clipboard_over_plain_http_too(live_server: LiveServer, browser: Browser,
                                                                         fake_openai: FakeProviderServer) -> None:
    add_live_user(live_server, "copier", "Copier-pass-123")
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    login(page, live_server.url, "copier", "Copier-pass-123")
    fake_openai.enqueue("openai", Reply(chunks=["**Bold** line\n`code` ![img](http://e.test/i.png)"]))
    _send(page, "Markdown, please.")
    wait_idle(page, timeout=60_000)
    raw = "**Bold** line\n`code` ![img](http://e.test/i.png)"
    _bubbles(page).nth(1).locator("button.parley-copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == raw  # https or localhost: the Clipboard API
    page.evaluate("navigator.clipboard.writeText('')")
    # A portal reached over plain HTTP by address is no secure context: no Clipboard API, the fallback copies.
    page.evaluate("Object.defineProperty(window, 'isSecureContext', {value: false})")
    _bubbles(page).nth(1).locator("button.parley-copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == raw
    context.close()


def test_an_image_and_a_pdf_attached_in_the_composer_are_sent_shown_and_kept(
        live_server: LiveServer, browser: Browser, fake_openai: FakeProviderServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Attach a PNG and a PDF with the composer's file picker, ask: the provider gets the image as an image part
    and the PDF's best passage as a numbered source, the reply cites it (page and snippet under the reply), the
    message shows the thumbnail and the document, the picker offers only models that see; a reload shows the
    same."""
    from tests.knowledge.docs import text_pdf
    from tests.providers.test_images import picture

    add_live_user(live_server, "iris", "Iris-pass-1234")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    login(page, live_server.url, "iris", "Iris-pass-1234")
    chart, report = tmp_path / "chart.png", tmp_path / "report.pdf"
    chart.write_bytes(picture(1200, 600))
    report.write_bytes(text_pdf(["Quarterly report", "Revenue grew by 12 percent."]))
    fake_openai.enqueue("openai", Reply(chunks=["Revenue grew ", "by 12 percent [1]."]))
    # The box states the real limits before anything is uploaded.
    expect(page.get_by_placeholder("images up to 10 MB, documents (PDF, DOCX, Markdown, HTML, text) up to 20 MB",
                                   exact=False)).to_be_visible()
    page.get_by_test_id("stChatInput").locator("input[type=file]").set_input_files([str(chart), str(report)])
    expect(page.get_by_text("report.pdf").first).to_be_visible(timeout=10_000)  # the composer lists them
    _send(page, "How much did revenue grow?")
    expect(_bubbles(page)).to_have_count(2, timeout=20_000)
    wait_idle(page, timeout=60_000)
    reply = _bubbles(page).nth(1)
    expect(reply).to_contain_text("Revenue grew by 12 percent [1].")
    asked = _bubbles(page).first
    expect(asked.get_by_test_id("stImage")).to_have_count(1)
    expect(asked).to_contain_text("Image: chart.png")
    expect(asked).to_contain_text("Document: report.pdf")
    body = fake_openai.calls("/chat/completions")[-1].body["messages"]
    assert "[1] report.pdf (p. 2)\nRevenue grew by 12 percent." in body[0]["content"]  # the cited passage
    sent = body[-1]["content"]
    assert [p["type"] for p in sent] == ["text", "image_url"] and sent[0]["text"] == "How much did revenue grow?"
    assert sent[1]["image_url"]["url"].startswith("data:image/png;base64,")
    expect(page.get_by_text("Only models that can see images are offered")).to_be_visible()
    reply.get_by_text("Sources", exact=False).click()
    expect(reply).to_contain_text("[1] report.pdf · p. 2")
    page.wait_for_timeout(300)  # the expander's opening animation
    page.screenshot(path=str(ARTIFACTS / "chat-image.png"))
    page.reload()
    wait_idle(page)
    expect(_bubbles(page).first.get_by_test_id("stImage")).to_have_count(1)
    expect(_bubbles(page).first).to_contain_text("Document: report.pdf")
    expect(_bubbles(page).nth(1).get_by_text("Sources", exact=False)).to_be_visible()
    page.close()


def test_an_image_for_a_model_that_cannot_see_comes_back_as_a_draft_and_goes_once_one_can(
        live_server: LiveServer, browser: Browser, fake_openai: FakeProviderServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The offline model picked, a PNG and a note attached: nothing is sent anywhere; the message comes back as a
    draft with its files (each can be left out), the picker now offers only models that see and says why, and the
    draft's Send goes to the one picked, without the file left out."""
    from tests.providers.test_images import picture

    add_live_user(live_server, "otto", "Otto-pass-1234")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    login(page, live_server.url, "otto", "Otto-pass-1234")
    page.get_by_text("Model and parameters").click()
    page.get_by_test_id("stSelectbox").filter(has_text="Model").locator("input").click()
    page.keyboard.type("smollm2")
    page.keyboard.press("Enter")
    wait_idle(page)
    dot, note = tmp_path / "dot.png", tmp_path / "note.txt"
    dot.write_bytes(picture(64, 64))
    note.write_text("Leave me out.")
    calls = len(fake_openai.calls("/chat/completions"))
    page.get_by_test_id("stChatInput").locator("input[type=file]").set_input_files([str(dot), str(note)])
    expect(page.get_by_role("button", name="Remove note.txt")).to_be_visible(timeout=10_000)  # both uploaded
    page.get_by_test_id("stChatInputTextArea").fill("What colour is the dot?")
    send = page.get_by_role("button", name="Send message")
    expect(send).to_be_enabled(timeout=10_000)
    send.click()
    wait_idle(page, timeout=60_000)
    expect(page.get_by_text("cannot see images", exact=False)).to_be_visible(timeout=15_000)
    assert len(fake_openai.calls("/chat/completions")) == calls and _bubbles(page).count() == 0  # nothing sent
    expect(page.get_by_text("Only models that can see images are offered")).to_be_visible()
    draft = page.get_by_test_id("stForm")
    expect(draft.get_by_text("1. dot.png")).to_be_visible()
    draft.get_by_text("2. note.txt").locator("xpath=..").get_by_role("button").click()  # leave the note out
    fake_openai.enqueue("openai", Reply(chunks=["Blue."]))
    draft.get_by_role("button", name="Send").click()
    wait_idle(page, timeout=60_000)
    expect(_bubbles(page)).to_have_count(2)
    expect(_bubbles(page).nth(1)).to_contain_text("Blue.")
    expect(_bubbles(page).first.get_by_test_id("stImage")).to_have_count(1)
    expect(_bubbles(page).first).not_to_contain_text("note.txt")
    sent = fake_openai.calls("/chat/completions")[-1].body
    assert sent["model"] == "gpt-4o-mini" and [p["type"] for p in sent["messages"][-1]["content"]] == [
        "text", "image_url"]
    page.close()
