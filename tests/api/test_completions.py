"""The official openai SDK (sync and async, plain and streamed) as a client of Parley's /v1."""

from __future__ import annotations

import asyncio
import threading
import time

import openai
import pytest
import uvicorn
from sqlmodel import Session, col, func, select

from core.models import Conversation, Message, UsageEvent, UsageSource, UsageStatus
from tests.api.conftest import _free_port
from tests.fakes.provider_server import Reply

HELLO = [{"role": "user", "content": "Hello there"}]


def _client(api, token: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(api_key=token, base_url=api.base_url, max_retries=0, timeout=30)


def _events(session: Session) -> list[UsageEvent]:
    session.expire_all()
    return list(session.exec(select(UsageEvent).order_by(col(UsageEvent.id))))


def test_plain_completion_is_answered_and_metered_as_api(api, token, provider, session, alice) -> None:
    provider.enqueue("openai", Reply(chunks=["Hi", " there!"], tokens_in=9, tokens_out=3))
    reply = _client(api, token).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert reply.choices[0].message.content == "Hi there!" and reply.choices[0].finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (9, 3)  # type: ignore[union-attr]
    assert reply.model == "openai/gpt-4o-mini" and reply.object == "chat.completion"
    [event] = _events(session)
    assert (event.user_id, event.source, event.token_name, event.status) == (
        alice, UsageSource.api, "laptop script", UsageStatus.complete)
    assert event.cost_usd > 0 and event.conversation_id is None
    assert session.exec(select(func.count()).select_from(Conversation)).one() == 0  # not kept by default


def test_stream_with_usage_in_the_last_chunk(api, token, provider, session) -> None:
    provider.enqueue("openai", Reply(chunks=["a", "b", "c"], tokens_in=5, tokens_out=3))
    stream = _client(api, token).chat.completions.create(
        model="openai/gpt-4o-mini", messages=HELLO, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "abc"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (5, 3)
    assert all(c.usage is None for c in chunks[:-1])
    assert _events(session)[-1].status == UsageStatus.complete


def test_async_client_plain_and_streamed(api, token, provider, session) -> None:
    async def run() -> tuple[str, str]:
        client = openai.AsyncOpenAI(api_key=token, base_url=api.base_url, max_retries=0, timeout=30)
        plain = await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)  # a bare id: unique
        stream = await client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO, stream=True)
        streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        await client.close()
        return plain.choices[0].message.content or "", streamed

    provider.enqueue("openai", Reply(chunks=["one"]), Reply(chunks=["two", "!"]))
    assert asyncio.run(run()) == ("one", "two!")
    assert [e.source for e in _events(session)] == [UsageSource.api, UsageSource.api]


def test_request_fields_reach_the_provider_and_neutral_ones_are_accepted(api, token, provider) -> None:
    provider.history.clear()
    provider.enqueue("openai", Reply(chunks=["ok"]))
    _client(api, token).chat.completions.create(
        model="openai/gpt-4o", temperature=0.3, max_tokens=77, stop=["END"], user="someone",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "developer", "content": "No jokes."},
                  {"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        # what clients send at their defaults asks for nothing: accepted
        top_p=1, presence_penalty=0, frequency_penalty=0.0, logprobs=False, response_format={"type": "text"},
        seed=None, metadata={"run": "nightly"}, store=False)
    sent = provider.calls("/chat/completions")[-1].body
    assert sent["model"] == "gpt-4o" and sent["temperature"] == 0.3 and sent["stop"] == ["END"]
    assert sent["max_completion_tokens"] == 77
    assert sent["messages"] == [{"role": "system", "content": "Be brief.\n\nNo jokes."},
                                {"role": "user", "content": "Hi"}]


TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"extra_body": {"functions": [TOOL["function"]]}}, "functions"),  # the deprecated form: ask with tools
    ({"extra_body": {"function_call": "auto"}}, "function_call"),
    ({"top_p": 0.5}, "top_p"),
    ({"seed": 7}, "seed"),
    ({"logprobs": True}, "logprobs"),
    ({"extra_body": {"logit_bias": {"50256": -100}}}, "logit_bias"),
    ({"extra_body": {"some_future_field": True}}, "some_future_field"),
])
def test_a_field_it_would_not_apply_is_a_400_naming_it_with_nothing_asked_or_recorded(
        api, token, provider, session, kwargs, param) -> None:
    provider.history.clear()
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as refused:
            _client(api, token).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO, stream=stream,
                                                        **kwargs)
        assert refused.value.body["code"] == "unsupported_parameter" and refused.value.body["param"] == param
        assert param in refused.value.body["message"]
    assert provider.history == [] and _events(session) == []


def test_models_lists_what_this_user_may_use_now(api, token, provider) -> None:
    client = _client(api, token)
    ids = {m.id for m in client.models.list()}
    assert {"local/smollm2-135m-instruct", "openai/gpt-4o-mini", "compatible/llama3.2"} <= ids
    assert not any(i.startswith("anthropic/") for i in ids)  # no Anthropic key anywhere: not listed
    assert client.models.retrieve("openai/gpt-4o-mini").owned_by == "openai"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("openai/gpt-9")
    with pytest.raises(openai.PermissionDeniedError, match="no API key"):
        client.models.retrieve("anthropic/claude-sonnet-4-0")
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="anthropic/claude-sonnet-4-0", messages=HELLO)


def test_fallback_chain_answers_when_the_chosen_provider_fails(api, token, provider, session) -> None:
    provider.enqueue("openai", Reply(status=503), Reply(chunks=["from", " the fallback"]))
    reply = _client(api, token).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert reply.choices[0].message.content == "from the fallback"
    assert reply.model.startswith("compatible/")
    assert [(e.provider, e.status) for e in _events(session)] == [("openai", UsageStatus.error),
                                                                 ("compatible", UsageStatus.complete)]


@pytest.mark.parametrize(("reply", "error", "status"), [
    (Reply(status=503), openai.InternalServerError, 503),
    (Reply(status=401), openai.APIStatusError, 502),
])
def test_provider_failures_after_the_chain_come_back_as_5xx(api, token, provider, reply, error, status) -> None:
    provider.enqueue("openai", reply, reply)  # the chosen provider, then the fallback (a refused key: no fallback)
    with pytest.raises(error) as caught:
        _client(api, token).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    assert "sk-good-key" not in str(caught.value.body)  # type: ignore[attr-defined]


def test_provider_timeout_is_504(api, token, provider) -> None:
    provider.enqueue("openai", Reply(stall=3), Reply(stall=3))  # longer than the 2 s provider timeouts
    with pytest.raises(openai.APIStatusError) as caught:
        _client(api, token).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert caught.value.status_code == 504


def test_a_failure_inside_a_stream_raises_in_the_client_and_is_recorded(api, token, provider, session) -> None:
    provider.enqueue("openai", Reply(chunks=["a", "b", "c", "d"], drop_after=2))
    stream = _client(api, token).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO, stream=True)
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(received) == "ab"
    assert _events(session)[-1].status == UsageStatus.interrupted


def test_identical_requests_at_temperature_0_are_served_from_the_cache(api, token, provider, session) -> None:
    provider.history.clear()
    provider.enqueue("openai", Reply(chunks=["cached answer"]))
    client = _client(api, token)
    first = client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO, temperature=0)
    second = client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO, temperature=0)
    assert first.choices[0].message.content == second.choices[0].message.content == "cached answer"
    assert len(provider.calls("/chat/completions")) == 1
    assert [e.cache_hit for e in _events(session)] == [False, True]


def test_conversations_are_kept_when_configured(api_env, engine, session, token, provider, monkeypatch) -> None:
    from core.config import get_settings
    from tests.api.conftest import serve_api

    monkeypatch.setenv("PARLEY_API__STORE_CONVERSATIONS", "true")
    get_settings.cache_clear()
    from core.chat import chat_manager

    chat_manager.cache_clear()
    served = serve_api()
    try:
        provider.enqueue("openai", Reply(chunks=["kept"]))
        _client(served, token).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    finally:
        served.server.should_exit = True
    conv = session.exec(select(Conversation)).one()
    texts = [(m.role, m.content) for m in session.exec(select(Message).where(Message.conversation_id == conv.id)
                                                       .order_by(col(Message.id)))]
    assert texts == [("user", "Hello there"), ("assistant", "kept")]
    assert _events(session)[-1].conversation_id == conv.id


def test_fake_server_saw_the_organisation_key_not_the_token(api, token, provider) -> None:
    provider.history.clear()
    provider.enqueue("openai", Reply(chunks=["x"]))
    _client(api, token).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    call = provider.calls("/chat/completions")[-1]
    assert call.headers["authorization"] == "Bearer sk-good-key" and token not in str(call.headers)



def test_knowledge_bases_as_an_extra_body_field(api, token, provider, session, alice) -> None:
    """The same knowledge bases as the chat: numbered sources in the prompt, listed in the response; another
    user's knowledge base is a 404 that tells nothing."""
    from core.chat import chat_manager
    from core.config import get_settings
    from core.knowledge import create_knowledge_base

    kb_id = create_knowledge_base(session=session, user_id=alice, name="Handbook").id
    session.commit()
    knowledge = chat_manager(get_settings().sqlalchemy_url).knowledge
    knowledge.upload(user_id=alice, kb_id=kb_id, name="handbook.md",
                     raw=b"# Backups\nBackups are written every night at 03:00 UTC.\n# Coffee\nDescaled on Mondays.")
    knowledge.wait()
    provider.enqueue("openai", Reply(chunks=["At 03:00 UTC [1]."]))
    reply = _client(api, token).chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "When are backups written?"}],
        extra_body={"knowledge_bases": [kb_id]})
    sources = (reply.model_extra or {})["sources"]
    assert sources[0]["n"] == 1 and sources[0]["document"] == "handbook.md" and sources[0]["section"] == "Backups"
    assert sources[0]["cited"] and not any(s["cited"] for s in sources[1:])  # the others were only given
    system = provider.calls("/chat/completions")[-1].body["messages"][0]["content"]
    assert "[1] handbook.md (Backups)" in system
    with pytest.raises(openai.NotFoundError):
        _client(api, token).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO,
                                                    extra_body={"knowledge_bases": [kb_id + 1000]})


def test_the_api_never_waits_on_the_servers_shared_thread_pool(api_env, engine, token, provider) -> None:
    """Streamlit serves static files and health checks through anyio's default thread pool: with every one of its
    threads taken, plain and streamed completions and the model list are still answered (they run on the API's own
    executor), and the provider was asked plainly for the plain one."""
    import contextlib

    from anyio import CapacityLimiter, to_thread
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from core.api import create_api

    @contextlib.asynccontextmanager
    async def pool_taken(_app: Starlette):  # type: ignore[no-untyped-def]
        limiter: CapacityLimiter = to_thread.current_default_thread_limiter()
        limiter.total_tokens = 1
        await limiter.acquire_on_behalf_of("somebody else")  # never given back while the server runs
        yield

    app = Starlette(routes=[Mount("/v1", app=create_api())], lifespan=pool_taken)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    try:
        while not server.started:
            time.sleep(0.02)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=token, max_retries=0, timeout=10)
        reply = client.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
        assert reply.choices[0].message.content == "Hello from the fake."
        assert provider.calls("/chat/completions")[-1].body.get("stream") in (None, False)
        stream = client.chat.completions.create(model="openai/gpt-4o-mini", stream=True,
                                                messages=[{"role": "user", "content": "Hi"}])
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello from the fake."
        assert provider.calls("/chat/completions")[-1].body.get("stream") is True
        assert any(m.id == "openai/gpt-4o-mini" for m in client.models.list())
    finally:
        server.should_exit = True
