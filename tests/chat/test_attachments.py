"""Images sent with a chat message: checked before anything is stored, kept with the message (bytes once per file),
sent to the provider as image parts, sent again when the conversation goes on (regenerate, edit, a new message),
only to models that can see, and swept with their conversation."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image as Pillow
from sqlmodel import Session, col, func, select

from core.chat import ConversationManager, TurnOptions
from core.errors import ValidationError
from core.history import delete, purge_deleted
from core.history.attachments import Upload, attachments_of
from core.models import Attachment, AttachmentBlob, Conversation, Message, UsageEvent
from tests.chat.test_budget_turn import settings  # noqa: F401  (fixture)
from tests.chat.test_turn import alice  # noqa: F401  (fixture)
from tests.fakes.provider_server import Reply
from tests.providers.test_images import picture, png_claiming

SEES = TurnOptions(provider="openai", model="gpt-paid", temperature=0.2, max_tokens=100)
BLIND = TurnOptions(provider="compatible", model="compat-paid", temperature=0.2, max_tokens=100)


def _finish(turn) -> str:  # type: ignore[no-untyped-def]
    text = "".join(turn.deltas())
    turn.close()
    return text


def _count(session: Session, table: type) -> int:
    session.expire_all()
    return int(session.exec(select(func.count()).select_from(table)).one())


def _sent_images(server) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    """The sizes of the images in the last request the provider got, in order."""
    sizes = []
    for message in server.calls("/chat/completions")[-1].body["messages"]:
        for part in message["content"] if isinstance(message["content"], list) else ():
            if part["type"] == "image_url":
                data = base64.b64decode(part["image_url"]["url"].partition(",")[2])
                with Pillow.open(io.BytesIO(data)) as image:
                    sizes.append(image.size)
    return sizes


def test_an_image_goes_with_the_message_and_again_with_the_conversation(engine, settings, server, alice,  # noqa: F811
                                                                         session) -> None:
    manager = ConversationManager(engine=engine, settings=settings)
    shot = Upload("screen shot.png", picture(3000, 1500))
    server.enqueue("openai", Reply(chunks=["A chart."]), Reply(chunks=["Still a chart."]),
                   Reply(chunks=["Blue."]), Reply(chunks=["Edited."]))
    turn = manager.send(user_id=alice, conversation_id=None, text="What is this?", options=SEES, files=[shot])
    assert _finish(turn) == "A chart."
    assert _sent_images(server) == [(1536, 768)]  # scaled to OpenAI's documented size
    conv = turn.conversation_id
    [asked] = session.exec(select(Message).where(Message.conversation_id == conv, Message.role == "user")).all()
    [kept] = attachments_of(session, [asked.id])[asked.id or 0]
    # Kept at the working size (all any provider reads: 2048 edge, 1.6 megapixels), not the 4.5 megapixels sent.
    assert (kept.name, kept.media_type, kept.width, kept.height) == ("screen shot.png", "image/png", 1788, 894)
    with Pillow.open(io.BytesIO(kept.thumbnail)) as thumb:
        assert max(thumb.size) == 320
    # The conversation goes on: the image is sent again, from the database.
    _finish(manager.regenerate(user_id=alice, conversation_id=conv, options=SEES))
    assert _sent_images(server) == [(1536, 768)]
    _finish(manager.send(user_id=alice, conversation_id=conv, text="And its colour?", options=SEES))
    assert _sent_images(server) == [(1536, 768)]
    # An edited version keeps its original's image (the bytes are stored once).
    _finish(manager.edit(user_id=alice, conversation_id=conv, message_id=asked.id or 0, text="Describe it.",
                         options=SEES))
    assert _sent_images(server) == [(1536, 768)]
    assert server.calls("/chat/completions")[-1].body["messages"][-1]["content"][0]["text"] == "Describe it."
    assert _count(session, Attachment) == 2 and _count(session, AttachmentBlob) == 1


def test_an_image_alone_is_a_message(engine, settings, server, alice, session) -> None:  # noqa: F811
    manager = ConversationManager(engine=engine, settings=settings)
    server.enqueue("openai", Reply(chunks=["A square."]))
    turn = manager.send(user_id=alice, conversation_id=None, text="  ", options=SEES,
                        files=[Upload("square.webp", picture(200, 200, "WEBP"))])
    assert _finish(turn) == "A square." and _sent_images(server) == [(200, 200)]
    assert session.get(Conversation, turn.conversation_id).title == "square.webp"  # type: ignore[union-attr]


@pytest.mark.parametrize(("upload", "says"), [
    (Upload("notes.pdf", b"%PDF-1.7 not a document either"), "Nothing was sent: notes.pdf"),
    (Upload("photo.png", b"just some text, named as an image"), "Nothing was sent: photo.png"),
    (Upload("bomb.png", png_claiming(100_000, 100_000)), "megapixels"),
    (Upload("old.bmp", picture(40, 40, "BMP")), "PNG, JPEG, WebP or GIF"),
])
def test_a_refused_file_stores_nothing(engine, settings, server, alice, session, upload, says) -> None:  # noqa: F811
    manager = ConversationManager(engine=engine, settings=settings)
    with pytest.raises(ValidationError) as refused:
        manager.send(user_id=alice, conversation_id=None, text="look", options=SEES,
                     files=[Upload("fine.png", picture(20, 20)), upload])
    assert says in str(refused.value.user_message)
    assert (_count(session, Conversation), _count(session, Message), _count(session, Attachment),
            _count(session, AttachmentBlob), _count(session, UsageEvent)) == (0, 0, 0, 0, 0)
    assert server.calls("/chat/completions") == []


def test_a_model_that_cannot_see_is_refused_and_never_a_fallback(engine, settings, server, alice,  # noqa: F811
                                                                  session) -> None:
    manager = ConversationManager(engine=engine, settings=settings)
    image = Upload("a.png", picture(64, 64))
    with pytest.raises(ValidationError) as refused:
        manager.send(user_id=alice, conversation_id=None, text="look", options=BLIND, files=[image])
    assert "cannot see images" in str(refused.value.user_message) and _count(session, Message) == 0
    server.enqueue("openai", Reply(chunks=["Seen."]))
    conv = manager.send(user_id=alice, conversation_id=None, text="look", options=SEES, files=[image])
    _finish(conv)
    with pytest.raises(ValidationError):  # the conversation has an image: a blind model cannot go on with it
        manager.send(user_id=alice, conversation_id=conv.conversation_id, text="more?", options=BLIND)
    server.enqueue("openai", Reply(status=500))  # OpenAI fails: the compatible fallback cannot see, so is not asked
    failed = manager.send(user_id=alice, conversation_id=conv.conversation_id, text="more?", options=SEES)
    _finish(failed)
    assert [c.body["model"] for c in server.calls("/chat/completions")] == ["gpt-paid", "gpt-paid"]


def test_attachments_go_with_their_conversation(engine, settings, server, alice, session) -> None:  # noqa: F811
    manager = ConversationManager(engine=engine, settings=settings)
    shared = picture(90, 90)
    server.enqueue("openai", Reply(chunks=["One."]), Reply(chunks=["Two."]))
    first = manager.send(user_id=alice, conversation_id=None, text="a", options=SEES, files=[Upload("x.png", shared)])
    second = manager.send(user_id=alice, conversation_id=None, text="b", options=SEES,
                          files=[Upload("y.png", shared), Upload("z.gif", picture(30, 30, "GIF"))])
    _finish(first), _finish(second)
    assert (_count(session, Attachment), _count(session, AttachmentBlob)) == (3, 2)
    delete(session=session, user_id=alice, conversation_ids=[first.conversation_id])
    purge_deleted(session=session, retention_days=0)
    assert (_count(session, Attachment), _count(session, AttachmentBlob)) == (2, 2)  # x.png's bytes: y.png's too
    delete(session=session, user_id=alice, conversation_ids=[second.conversation_id])
    purge_deleted(session=session, retention_days=0)
    assert (_count(session, Attachment), _count(session, AttachmentBlob)) == (0, 0)
    assert session.exec(select(func.count()).select_from(Message).where(
        col(Message.conversation_id) == second.conversation_id)).one() == 0


def test_export_and_import_keep_the_images(engine, settings, server, alice, session, monkeypatch) -> None:  # noqa: F811
    import json

    from core.config import get_settings
    from core.history import export_json, import_conversations
    from tests.conftest import add_user

    manager = ConversationManager(engine=engine, settings=settings)
    server.enqueue("openai", Reply(chunks=["A dot."]))
    png = picture(120, 80)
    _finish(manager.send(user_id=alice, conversation_id=None, text="see", options=SEES, files=[Upload("d.png", png)]))
    exported = json.loads(export_json(session=session, user_id=alice))
    [asked, _] = exported["conversations"][0]["messages"]
    assert asked["attachments"] == [{"name": "d.png", "media_type": "image/png", "kind": "image", "text": None,
                                     "data": base64.b64encode(png).decode()}]
    bob = add_user(session, "bob")
    raw = json.dumps(exported).encode()
    assert import_conversations(session=session, user_id=bob, raw=raw, max_bytes=10**7) == 1
    mine = session.exec(select(Message).join(Conversation, col(Conversation.id) == col(Message.conversation_id))
                        .where(Conversation.user_id == bob, Message.role == "user")).one()
    [kept] = attachments_of(session, [mine.id])[mine.id or 0]
    assert (kept.name, kept.width, kept.height) == ("d.png", 120, 80)
    assert _count(session, AttachmentBlob) == 1  # the same bytes: stored once
    # A hostile image in a file imports nothing.
    asked["attachments"] = [{"name": "bomb.png", "data": base64.b64encode(png_claiming(10**5, 10**5)).decode()}]
    before = _count(session, Conversation)
    with pytest.raises(ValidationError) as refused:
        import_conversations(session=session, user_id=bob, raw=json.dumps(exported).encode(), max_bytes=10**7)
    assert "Nothing was sent: bomb.png" in str(refused.value.user_message)
    assert _count(session, Conversation) == before
    # An export past its room for images lists them without bytes; importing it keeps the text.
    monkeypatch.setenv("PARLEY_HISTORY__MAX_IMPORT_MB", "0.00001")
    get_settings.cache_clear()
    light = json.loads(export_json(session=session, user_id=alice))
    assert light["conversations"][0]["messages"][0]["attachments"][0]["data"] is None


def _sent_text(server) -> str:  # type: ignore[no-untyped-def]
    """The text of the last message the provider got."""
    content = server.calls("/chat/completions")[-1].body["messages"][-1]["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def test_a_document_goes_with_the_message_as_text(engine, settings, server, alice, session) -> None:  # noqa: F811
    from tests.knowledge.bombs import PARAGRAPH, docx_with_body
    from tests.knowledge.docs import text_pdf

    manager = ConversationManager(engine=engine, settings=settings)
    server.enqueue("openai", Reply(chunks=["Forty-two."]), Reply(chunks=["Lorem."]))
    report = Upload("report.pdf", text_pdf(["Quarterly report", "The answer is forty-two."]))
    turn = manager.send(user_id=alice, conversation_id=None, text="What is the answer?", options=SEES,
                        files=[report])
    assert _finish(turn) == "Forty-two."
    sent = _sent_text(server)
    assert sent.startswith('<document name="report.pdf">\nQuarterly report') and "forty-two" in sent
    assert sent.endswith("</document>\n\nWhat is the answer?")
    # Sent again as the conversation goes on; with an image beside a DOCX, both go.
    _finish(manager.send(user_id=alice, conversation_id=turn.conversation_id, text="And?", options=SEES,
                         files=[Upload("notes.docx", docx_with_body(PARAGRAPH, 3)),
                                Upload("dot.png", picture(30, 30))]))
    first = server.calls("/chat/completions")[-1].body["messages"][0]["content"]
    assert "forty-two" in first
    assert "Lorem ipsum" in _sent_text(server) and _sent_images(server) == [(30, 30)]
    kinds = sorted(a.kind for rows in attachments_of(session, [m.id for m in session.exec(select(Message))]).values()
                   for a in rows)
    assert kinds == ["document", "document", "image"]
    # A model that cannot see takes documents (text): not the conversation above, which now has an image.
    with pytest.raises(ValidationError):
        manager.send(user_id=alice, conversation_id=turn.conversation_id, text="More?", options=BLIND)
    server.enqueue("openai", Reply(chunks=["Summed up."]))
    _finish(manager.send(user_id=alice, conversation_id=None, text="Summary?", options=BLIND, files=[report]))
    assert server.calls("/chat/completions")[-1].body["model"] == "compat-paid" and "forty-two" in _sent_text(server)


@pytest.mark.parametrize(("make", "says"), [
    ("bomb", "Nothing was sent"), ("encrypted", "Nothing was sent"), ("program", "Nothing was sent"),
])
def test_a_hostile_document_stores_nothing(engine, settings, server, alice, session, make, says) -> None:  # noqa: F811
    from tests.knowledge.bombs import docx_bomb
    from tests.knowledge.docs import encrypted_pdf

    data = {"bomb": lambda: docx_bomb(50), "encrypted": encrypted_pdf,
            "program": lambda: b"\x7fELF\x02\x01\x01" + b"\x00" * 200}[make]()
    manager = ConversationManager(engine=engine, settings=settings)
    with pytest.raises(ValidationError) as refused:
        manager.send(user_id=alice, conversation_id=None, text="read", options=SEES,
                     files=[Upload("fine.png", picture(20, 20)), Upload(f"{make}.docx", data)])
    assert says in str(refused.value.user_message)
    assert (_count(session, Conversation), _count(session, Message), _count(session, Attachment),
            _count(session, AttachmentBlob)) == (0, 0, 0, 0)
    assert server.calls("/chat/completions") == []


def test_a_long_document_is_asked_by_its_passages_and_cited(engine, settings, server, alice, session) -> None:  # noqa: F811
    from core.chat import sources_of
    from core.models import EmbeddingCache

    sea = "The sea was grey and the waves were slow that winter. " * 18  # ~1000 characters: a passage of its own
    book = "\n\n".join(["# Book", sea, "## Harbour", sea, "The lighthouse keeper is called Alvar Lindqvist.",
                        "## Weather", sea, sea, "The ferry leaves at seven in the morning.", sea])
    long = Upload("book.md", book.encode())  # over attachments.inline_document_tokens below: its passages go
    low = settings.model_copy(update={"attachments": settings.attachments.model_copy(
        update={"inline_document_tokens": 200})})
    manager = ConversationManager(engine=engine, settings=low)
    server.enqueue("openai", Reply(chunks=["Alvar Lindqvist [1]."]), Reply(chunks=["At seven [1]."]))
    turn = manager.send(user_id=alice, conversation_id=None, text="What is the lighthouse keeper called?",
                        options=SEES, files=[long])
    assert _finish(turn) == "Alvar Lindqvist [1]."
    body = server.calls("/chat/completions")[-1].body
    system, asked = body["messages"][0]["content"], body["messages"][-1]["content"]
    first = system.split("\n\n[1] ")[1].split("\n\n[2] ")[0]
    assert first.startswith("book.md") and "Alvar Lindqvist" in first  # the best passage first
    assert asked == "What is the lighthouse keeper called?"  # the book is not sent whole
    reply = session.exec(select(Message).where(Message.role == "assistant")).one()
    cited = sources_of(session, [reply.id or 0])[reply.id or 0]
    assert cited[0].document_name == "book.md" and "Alvar" in cited[0].snippet and cited[0].document_id == 0
    vectors = _count(session, EmbeddingCache)
    # The next question searches the same passages again (their vectors cached, not embedded again).
    _finish(manager.send(user_id=alice, conversation_id=turn.conversation_id, text="When does the ferry leave?",
                         options=SEES))
    system = server.calls("/chat/completions")[-1].body["messages"][0]["content"]
    assert "seven in the morning" in system.split("\n\n[1] ")[1].split("\n\n[2] ")[0]
    assert _count(session, EmbeddingCache) == vectors
    [kept] = [a for rows in attachments_of(session, [m.id for m in session.exec(select(Message))]).values()
              for a in rows]
    assert kept.kind == "passages" and "Lindqvist" in kept.text and kept.passages


def test_export_and_import_keep_a_document_and_its_text(engine, settings, server, alice, session) -> None:  # noqa: F811
    import json

    from core.history import export_json, import_conversations
    from tests.conftest import add_user

    manager = ConversationManager(engine=engine, settings=settings)
    server.enqueue("openai", Reply(chunks=["Noted."]), Reply(chunks=["Still noted."]))
    note = b"# Note\n\nThe door code is 4711.\n"
    _finish(manager.send(user_id=alice, conversation_id=None, text="Keep this", options=SEES,
                         files=[Upload("note.md", note)]))
    exported = json.loads(export_json(session=session, user_id=alice))
    [kept] = exported["conversations"][0]["messages"][0]["attachments"]
    assert (kept["kind"], kept["name"], base64.b64decode(kept["data"])) == ("document", "note.md", note)
    assert "4711" in kept["text"]
    from core.keys import save_user_key

    bob = add_user(session, "bob")
    save_user_key(session=session, user_id=bob, provider="openai", api_key="sk-good-key")
    import_conversations(session=session, user_id=bob, raw=json.dumps(exported).encode(), max_bytes=10**7)
    conv = session.exec(select(Conversation).where(Conversation.user_id == bob)).one()
    _finish(manager.send(user_id=bob, conversation_id=conv.id, text="The code?", options=SEES))
    assert "4711" in server.calls("/chat/completions")[-1].body["messages"][0]["content"]


def test_an_image_is_kept_as_read_upright_and_sent_so_again(engine, settings, server, alice, session) -> None:  # noqa: F811
    manager = ConversationManager(engine=engine, settings=settings)
    out = io.BytesIO()
    exif = Pillow.Exif()
    exif[0x0112] = 6  # a phone's portrait photo: stored on its side, turned when viewed
    Pillow.new("RGB", (600, 300), (10, 120, 200)).save(out, "JPEG", exif=exif)
    gif = io.BytesIO()
    frames = [Pillow.new("RGB", (40, 40), (n * 80, 0, 0)) for n in range(3)]
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    server.enqueue("openai", Reply(chunks=["A portrait."]), Reply(chunks=["Still."]))
    turn = manager.send(user_id=alice, conversation_id=None, text="Which way up?", options=SEES,
                        files=[Upload("portrait.jpg", out.getvalue()), Upload("blink.gif", gif.getvalue())])
    _finish(turn)
    assert _sent_images(server) == [(300, 600), (40, 40)]
    _finish(manager.regenerate(user_id=alice, conversation_id=turn.conversation_id, options=SEES))
    parts = server.calls("/chat/completions")[-1].body["messages"][-1]["content"]
    assert _sent_images(server) == [(300, 600), (40, 40)]  # from the database: upright still
    assert [p["image_url"]["url"][:22] for p in parts if p["type"] == "image_url"] == [
        "data:image/jpeg;base64", "data:image/png;base64,"]  # the GIF's first frame, labelled as what it is
    blob = base64.b64decode(parts[2]["image_url"]["url"].partition(",")[2])
    with Pillow.open(io.BytesIO(blob)) as first:
        assert first.format == "PNG" and not getattr(first, "is_animated", False)
