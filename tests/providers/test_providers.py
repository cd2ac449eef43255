"""Adapters through the real openai/anthropic SDKs against a local wire-protocol server, and the
bundled local model really generating."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.config import ProviderCatalog
from core.errors import InvalidProviderKey, ProviderRateLimited, ProviderTimeout, ProviderUnavailable, ValidationError
from core.providers.anthropic import AnthropicProvider
from core.providers.base import ChatMessage, ChatRequest, Credentials, Finished, Provider, TextDelta
from core.providers.compatible import CompatibleProvider
from core.providers.local import LocalProvider, bundled_model_path
from core.providers.openai import OpenAIProvider
from core.providers.registry import build_provider
from tests.fakes.provider_server import FakeProviderServer, Reply

REQUEST = ChatRequest(model="test-model", messages=[ChatMessage("user", "Hi")], system="Be brief.",
                      temperature=0.2, max_tokens=64)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProviderServer]:
    srv = FakeProviderServer().start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _fresh(server: FakeProviderServer) -> None:
    """A reply one test queued and did not use (its call timed out early on a busy machine) must not answer the
    next test's call."""
    for queue in server.queues.values():
        queue.clear()
    server.redirect_to = None


def _catalog(url: str, timeout: float = 2.0) -> ProviderCatalog:
    return ProviderCatalog(base_url=url, max_retries=0, timeout_seconds=timeout, connect_timeout_seconds=1)


def _openai(server: FakeProviderServer, key: str = "sk-good-key", timeout: float = 2.0) -> OpenAIProvider:
    return OpenAIProvider(_catalog(server.openai_url, timeout), Credentials(api_key=key))


def _anthropic(server: FakeProviderServer, key: str = "sk-ant-good-key", timeout: float = 2.0) -> AnthropicProvider:
    return AnthropicProvider(_catalog(server.anthropic_url, timeout), Credentials(api_key=key))


ADAPTERS = {"openai": _openai, "anthropic": _anthropic}


def _events(provider: Provider) -> list:  # type: ignore[type-arg]
    return list(provider.stream(REQUEST))


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_streams_deltas_then_one_finished_with_usage(server, protocol: str) -> None:
    server.enqueue(protocol, Reply(chunks=["Hel", "lo", "!"], tokens_in=21, tokens_out=3))
    events = _events(ADAPTERS[protocol](server))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo", "!"]
    assert isinstance(events[-1], Finished) and sum(isinstance(e, Finished) for e in events) == 1
    assert (events[-1].usage.tokens_in, events[-1].usage.tokens_out) == (21, 3)
    assert not events[-1].usage.estimated


def test_openai_request_carries_system_prompt_stream_options_and_key(server) -> None:
    _events(_openai(server))
    call = server.calls("/chat/completions")[-1]
    assert call.body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert call.body["stream"] is True and call.body["stream_options"] == {"include_usage": True}
    assert call.body["max_completion_tokens"] == 64
    assert call.headers["authorization"] == "Bearer sk-good-key"


def test_anthropic_request_puts_system_apart(server) -> None:
    _events(_anthropic(server))
    call = server.calls("/v1/messages")[-1]
    assert call.body["system"] == "Be brief." and call.body["messages"] == [{"role": "user", "content": "Hi"}]
    assert "sk-ant-good-key" in (call.headers.get("x-api-key", "") + call.headers.get("authorization", ""))


def test_compatible_server_uses_max_tokens_and_estimates_missing_usage(server) -> None:
    server.enqueue("openai", Reply(chunks=["abc", "def"], include_usage=False))
    provider = CompatibleProvider(_catalog(server.openai_url), Credentials())
    events = _events(provider)
    assert server.calls("/chat/completions")[-1].body["max_tokens"] == 64
    assert events[-1].usage.estimated and events[-1].usage.tokens_out >= 1


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
@pytest.mark.parametrize("reply,error", [
    (Reply(status=401), InvalidProviderKey),
    (Reply(status=429, headers={"retry-after": "7"}), ProviderRateLimited),
    (Reply(status=500), ProviderUnavailable),
    (Reply(status=529), ProviderUnavailable),
])
def test_error_statuses_map_to_our_errors(server, protocol: str, reply: Reply, error: type) -> None:
    server.enqueue(protocol, reply)
    with pytest.raises(error) as info:
        _events(ADAPTERS[protocol](server))
    if isinstance(info.value, ProviderRateLimited):
        assert info.value.retry_after == 7 and "7 s" in info.value.user_message
    assert "sk-" not in info.value.user_message


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_timeout_maps_to_provider_timeout(server, protocol: str) -> None:
    server.enqueue(protocol, Reply(stall=1.5))
    with pytest.raises(ProviderTimeout):
        _events(ADAPTERS[protocol](server, timeout=0.5))


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_connection_dropped_mid_stream_delivers_partial_then_unavailable(server, protocol: str) -> None:
    server.enqueue(protocol, Reply(chunks=["a", "b", "c", "d"], drop_after=2))
    seen: list[str] = []
    with pytest.raises(ProviderUnavailable):
        for event in ADAPTERS[protocol](server).stream(REQUEST):
            if isinstance(event, TextDelta):
                seen.append(event.text)
    assert seen == ["a", "b"]


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_validate_key_valid_invalid_unreachable(server, protocol: str) -> None:
    adapter = ADAPTERS[protocol](server)
    assert adapter.validate_key("sk-good-key" if protocol == "openai" else "sk-ant-good-key").status == "valid"
    assert adapter.validate_key("sk-wrong").status == "invalid"
    dead = ADAPTERS[protocol](server)
    dead.catalog = _catalog("http://127.0.0.1:9/v1" if protocol == "openai" else "http://127.0.0.1:9")
    assert dead.validate_key("sk-good-key").status == "unreachable"


def test_generate_is_built_on_stream(server) -> None:
    server.enqueue("openai", Reply(chunks=["x", "y"], tokens_in=5, tokens_out=2))
    result = _openai(server).generate(REQUEST)
    assert (result.text, result.usage.tokens_out) == ("xy", 2)


def test_registry_builds_adapters_with_the_credentials_it_is_given(parley_env) -> None:
    assert build_provider("local").unavailable_reason() is None
    assert build_provider("openai").unavailable_reason() == "no API key configured"
    assert build_provider("compatible").unavailable_reason() == "no server URL configured"
    keyed = build_provider("openai", Credentials(api_key="sk-given-key"))
    assert keyed.credentials.api_key == "sk-given-key" and keyed.unavailable_reason() is None
    with pytest.raises(ValidationError, match="nope"):
        build_provider("nope")


def test_bundled_model_file_ships_with_the_package() -> None:
    assert bundled_model_path().is_file()


def test_local_model_really_generates(parley_env) -> None:
    provider = build_provider("local")
    assert isinstance(provider, LocalProvider)
    request = ChatRequest(model="smollm2-135m-instruct", messages=[ChatMessage("user", "Say hello.")],
                          temperature=0.0, max_tokens=8)
    events = list(provider.stream(request))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text.strip()
    finished = events[-1]
    assert isinstance(finished, Finished) and 1 <= finished.usage.tokens_out <= 8
    assert finished.usage.tokens_in > 0
    again = "".join(e.text for e in provider.stream(request) if isinstance(e, TextDelta))
    assert again == text  # temperature 0: deterministic


def test_local_model_stops_when_consumer_stops(parley_env) -> None:
    provider = build_provider("local")
    request = ChatRequest(model="smollm2-135m-instruct", messages=[ChatMessage("user", "Count to fifty.")],
                          temperature=0.0, max_tokens=200)
    stream = provider.stream(request)
    next(stream)
    stream.close()  # releases the generation lock
    from core.providers.local import generation_lock

    assert generation_lock.acquire(timeout=1)
    generation_lock.release()


# Plain replies: generate() (the SDKs' plain calls) and agenerate() (the API's: aiohttp for OpenAI's protocol,
# the async SDK for Anthropic's) answer alike and fail alike.
def _plain(provider: Provider, how: str):  # type: ignore[no-untyped-def]
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from core.providers.wire import close_sessions

    if how == "sync":
        return provider.generate(REQUEST)

    async def call():  # type: ignore[no-untyped-def]
        try:
            return await provider.agenerate(REQUEST)
        finally:
            await close_sessions()

    # On a thread of its own: Playwright's sync API (the browser tests, earlier in the same session) keeps an event
    # loop running on the main thread, where asyncio.run() is refused.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, call()).result()


@pytest.mark.parametrize("how", ["sync", "async"])
@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_a_plain_reply_is_asked_plainly_with_usage_and_stop_reason(server, protocol: str, how: str) -> None:
    server.enqueue(protocol, Reply(chunks=["Hel", "lo!"], tokens_in=21, tokens_out=3, finish_reason="length"))
    result = _plain(ADAPTERS[protocol](server), how)
    assert (result.text, result.usage.tokens_in, result.usage.tokens_out) == ("Hello!", 21, 3)
    assert result.stop_reason in ("length", "max_tokens")
    asked = server.calls("/chat/completions" if protocol == "openai" else "/messages")[-1]
    assert not asked.body.get("stream")


@pytest.mark.parametrize("how", ["sync", "async"])
@pytest.mark.parametrize(("reply", "error"), [
    (Reply(status=401), InvalidProviderKey), (Reply(status=429, headers={"retry-after": "7"}), ProviderRateLimited),
    (Reply(status=503), ProviderUnavailable), (Reply(stall=3.0), ProviderTimeout)])
def test_plain_failures_are_mapped_as_the_sdk_maps_them(server, how: str, reply: Reply, error: type,
                                                        caplog) -> None:  # type: ignore[no-untyped-def]
    server.enqueue("openai", reply)
    with pytest.raises(error) as raised:
        _plain(_openai(server, key="sk-good-key-0123456789abcdef", timeout=1.0), how)
    if error is ProviderRateLimited:
        assert raised.value.retry_after == 7  # type: ignore[attr-defined]
    assert "sk-good-key-0123456789abcdef" not in caplog.text


def test_the_async_plain_call_retries_what_the_sdk_retries_and_never_follows_a_redirect(server) -> None:
    catalog = ProviderCatalog(base_url=server.openai_url, max_retries=1, timeout_seconds=2, connect_timeout_seconds=1)
    provider = OpenAIProvider(catalog, Credentials(api_key="sk-good-key"))
    server.enqueue("openai", Reply(status=503, headers={"retry-after": "0.05"}), Reply(chunks=["again"]))
    assert _plain(provider, "async").text == "again"
    server.redirect_to = "http://127.0.0.1:9"
    try:
        with pytest.raises(Exception, match="redirect"):
            _plain(provider, "async")
    finally:
        server.redirect_to = None
