"""Images through /v1/chat/completions with the official openai SDK: image_url data URLs reach OpenAI as image_url
parts and Anthropic as image blocks, scaled to each one's documented maximum; a model that cannot see is refused
(and never a fallback); remote URLs only where allowed, and never into the portal's own network; hostile files
refused with nothing recorded."""

from __future__ import annotations

import base64
import io

import openai
import pytest
from PIL import Image as Pillow
from sqlmodel import Session, col, select

from core.config import get_settings
from core.models import UsageEvent, UsageStatus
from tests.api.conftest import kept_texts
from tests.api.test_tools import anthropic_env  # noqa: F401  (a fixture)
from tests.fakes.provider_server import Reply
from tests.providers.test_images import picture, png_claiming


def _client(api, token: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(api_key=token, base_url=api.base_url, max_retries=0, timeout=30)


def _url(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def _asking(url: str, text: str = "What is in this picture?") -> list[dict[str, object]]:
    return [{"role": "user", "content": [{"type": "text", "text": text},
                                         {"type": "image_url", "image_url": {"url": url}}]}]


def _sent(url: str) -> tuple[str, tuple[int, int]]:
    """The format and size of the image in a data URL a provider was sent."""
    header, _, payload = url.partition(",")
    with Pillow.open(io.BytesIO(base64.b64decode(payload))) as image:
        assert header == f"data:{Pillow.MIME[image.format]};base64"
        return image.format, image.size


def _events(session: Session) -> list[UsageEvent]:
    session.expire_all()
    return list(session.exec(select(UsageEvent).order_by(col(UsageEvent.id))))


@pytest.mark.parametrize("stream", [False, True])
def test_an_image_reaches_openai_as_an_image_url_scaled_down(api, token, provider, session, stream) -> None:
    provider.enqueue("openai", Reply(chunks=["A blue square."], tokens_in=1120, tokens_out=4))
    asked = _client(api, token).chat.completions.create(model="openai/gpt-4o", stream=stream,
                                                        messages=_asking(_url(picture(4096, 2048))))  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in asked if c.choices) if stream else \
        asked.choices[0].message.content
    assert text == "A blue square."
    [message] = provider.calls("/chat/completions")[-1].body["messages"]
    assert message["role"] == "user" and message["content"][0] == {"type": "text", "text": "What is in this picture?"}
    part = message["content"][1]
    assert part["type"] == "image_url" and _sent(part["image_url"]["url"]) == ("PNG", (1536, 768))
    [event] = _events(session)
    assert event.status == UsageStatus.complete and event.tokens_in == 1120


def test_an_image_reaches_anthropic_as_an_image_block_scaled_down(anthropic_env, api, token, provider,  # noqa: F811
                                                                  session) -> None:
    provider.enqueue("anthropic", Reply(chunks=["A photo."]))
    jpeg = picture(3000, 1500, "JPEG")
    reply = _client(api, token).chat.completions.create(model="anthropic/claude-sonnet-4-0",
                                                        messages=_asking(_url(jpeg, "image/jpeg")))  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "A photo."
    [message] = provider.calls("/v1/messages")[-1].body["messages"]
    image, text = message["content"]
    assert text == {"type": "text", "text": "What is in this picture?"}  # the image first, as Anthropic advises
    assert image["type"] == "image" and image["source"]["media_type"] == "image/jpeg"
    assert _sent(f"data:image/jpeg;base64,{image['source']['data']}") == ("JPEG", (1516, 758))


def test_a_small_image_is_sent_as_it_came_and_the_declared_type_is_not_believed(api, token, provider) -> None:
    webp = picture(200, 100, "WEBP")
    provider.enqueue("openai", Reply(chunks=["ok"]))
    _client(api, token).chat.completions.create(model="openai/gpt-4o-mini",
                                                messages=_asking(_url(webp, "image/png")))  # type: ignore[arg-type]
    url = provider.calls("/chat/completions")[-1].body["messages"][0]["content"][1]["image_url"]["url"]
    assert url == _url(webp, "image/webp")


def test_a_model_that_cannot_see_is_refused_and_never_a_fallback(api, token, provider, session) -> None:
    client = _client(api, token)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="compatible/llama3.2", messages=_asking(_url(picture(50, 50))))  # type: ignore[arg-type]
    assert refused.value.code == "unsupported_parameter" and "cannot see images" in refused.value.message
    assert provider.calls("/chat/completions") == [] and _events(session) == []
    # OpenAI fails: the fallback chain's compatible model cannot see, so it is not asked.
    provider.enqueue("openai", Reply(status=500))
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=_asking(_url(picture(50, 50))))  # type: ignore[arg-type]
    assert [c.body["model"] for c in provider.calls("/chat/completions")] == ["gpt-4o-mini"]


@pytest.mark.parametrize(("url", "says"), [
    (_url(b"%PDF-1.7\n" + b"x" * 100, "image/png"), "not an image"),
    (_url(png_claiming(100_000, 100_000)), "megapixels"),
    (_url(picture(64, 64, "BMP"), "image/bmp"), "PNG, JPEG, WebP or GIF"),
    ("data:image/png;base64,!!!not-base64!!!", "not an image"),
    ("ftp://example.com/cat.png", "data URL"),
    ("https://example.com/cat.png", "not fetched by this server"),
])
def test_refused_images_are_a_400_and_nothing_is_recorded(api, token, provider, session, url, says) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        _client(api, token).chat.completions.create(model="openai/gpt-4o-mini", messages=_asking(url))  # type: ignore[arg-type]
    assert refused.value.code == "invalid_image" and says in refused.value.message
    assert refused.value.param == "messages"  # type: ignore[attr-defined]
    assert provider.calls("/chat/completions") == [] and _events(session) == []


def test_images_only_in_user_messages_and_within_the_count(api, token, provider) -> None:
    client, url = _client(api, token), _url(picture(20, 20))
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=[
            {"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": url}}]},  # type: ignore[list-item]
            {"role": "user", "content": "and?"}])
    many = [{"type": "image_url", "image_url": {"url": url}}] * (get_settings().attachments.max_images_per_message + 1)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": many}])  # type: ignore[misc, list-item]
    assert "at most" in refused.value.message and provider.calls("/chat/completions") == []
    each = [{"type": "image_url", "image_url": {"url": url}}] * 7  # within a message's limit, not a request's
    spread = [{"role": "user", "content": each}, {"role": "assistant", "content": "ok"}] * 3
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=spread)  # type: ignore[arg-type]
    assert "all its messages together" in refused.value.message and provider.calls("/chat/completions") == []


@pytest.fixture
def remote_images(api_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_ATTACHMENTS__REMOTE_IMAGES", "true")
    # Users' own model servers may be here; an API caller's image fetch may not (the allow-list is not its).
    monkeypatch.setenv("PARLEY_KEYS__ALLOWED_PRIVATE_HOSTS", "[127.0.0.1]")
    get_settings.cache_clear()


def test_remote_images_where_allowed_never_from_the_portals_network(remote_images, api, token, provider) -> None:
    with pytest.raises(openai.BadRequestError) as refused:  # the fake server is on loopback: a private address
        _client(api, token).chat.completions.create(model="openai/gpt-4o-mini",
                                                    messages=_asking(f"{provider.openai_url}/models"))  # type: ignore[arg-type]
    assert "could not be fetched" in refused.value.message and provider.calls("/models") == []


def test_a_kept_conversation_reads_an_image_as_its_size_and_type(keeping_api, session, token, provider) -> None:
    provider.enqueue("openai", Reply(chunks=["Blue."]))
    _client(keeping_api, token).chat.completions.create(model="openai/gpt-4o-mini",
                                                        messages=_asking(_url(picture(300, 200, "JPEG"))))  # type: ignore[arg-type]
    texts = kept_texts(session)
    assert texts == [("user", "[image 300×200 JPEG]\n\nWhat is in this picture?"), ("assistant", "Blue.")]


def _filed(data: bytes, name: str | None, text: str = "What does it say?",
           media_type: str = "application/pdf") -> list[dict[str, object]]:
    file: dict[str, object] = {"file_data": f"data:{media_type};base64,{base64.b64encode(data).decode()}"}
    if name is not None:
        file["filename"] = name
    return [{"role": "user", "content": [{"type": "file", "file": file}, {"type": "text", "text": text}]}]


@pytest.mark.parametrize("stream", [False, True])
def test_a_file_part_goes_as_its_text_before_the_message(api, token, provider, session, stream) -> None:
    from tests.knowledge.docs import text_pdf

    provider.enqueue("openai", Reply(chunks=["Twelve percent."]))
    asked = _client(api, token).chat.completions.create(
        model="openai/gpt-4o-mini", stream=stream,
        messages=_filed(text_pdf(["Quarterly report", "Revenue grew by 12 percent."]), "report.pdf"))  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in asked if c.choices) if stream else \
        asked.choices[0].message.content
    assert text == "Twelve percent."
    [message] = provider.calls("/chat/completions")[-1].body["messages"]
    assert message["content"].startswith('<document name="report.pdf">\nQuarterly report')
    assert "12 percent" in message["content"] and message["content"].endswith("</document>\n\nWhat does it say?")
    assert _events(session)[-1].status == UsageStatus.complete


def test_refused_file_parts_are_a_400_and_nothing_is_recorded(api, token, provider, session) -> None:
    from tests.knowledge.bombs import docx_bomb

    client = _client(api, token)
    cases = [
        ([{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}], "file_id"),
        ([{"role": "assistant", "content": [{"type": "file", "file": {"file_data": "data:,x"}}]},
          {"role": "user", "content": "and?"}], "only user messages"),
        (_filed(picture(30, 30), "dot.png", media_type="image/png"), "image_url part"),
        (_filed(docx_bomb(50), "bomb.docx"), "Nothing was sent: bomb.docx"),
        ([{"role": "user", "content": [{"type": "file", "file": {"file_data": "https://example.com/a.pdf"}}]}],
         "data URL"),
    ]
    for messages, says in cases:
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model="openai/gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
        assert says in refused.value.message, (says, refused.value.message)
    assert provider.calls("/chat/completions") == [] and _events(session) == []
