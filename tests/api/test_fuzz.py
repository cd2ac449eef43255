"""Fuzzed request bodies: every one is answered in OpenAI's error shape, and nothing is stored or spent."""

from __future__ import annotations

import json
from typing import Any

import httpx2 as httpx
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from core.models import Conversation, Message, UsageEvent

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20)
messages = st.lists(st.one_of(
    json_values,
    st.fixed_dictionaries({"role": st.one_of(st.text(max_size=12), json_values), "content": json_values}),
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system"]),
                           "content": st.one_of(st.text(max_size=40), json_values)}),
), max_size=4)
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"model": st.one_of(st.text(max_size=30), json_values), "messages": messages},
                          optional={"temperature": json_values, "max_tokens": json_values, "stream": json_values,
                                    "stop": json_values, "n": json_values, "stream_options": json_values}),
)


def _counts(session: Session) -> tuple[int, int, int]:
    session.expire_all()
    return tuple(session.exec(select(func.count()).select_from(t)).one()  # type: ignore[return-value]
                 for t in (UsageEvent, Conversation, Message))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_fuzzed_bodies_get_an_openai_error_and_store_nothing(api, token, session, body: Any) -> None:
    model = body.get("model") if isinstance(body, dict) else None
    assume(not (isinstance(model, str) and model.strip() in {"gpt-4o-mini", "gpt-4o", "llama3.2"} | {
        f"{p}/{m}" for p, m in (("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("compatible", "llama3.2"),
                                ("local", "smollm2-135m-instruct"), ("anthropic", "claude-sonnet-4-0"))}))
    before = _counts(session)
    response = httpx.post(f"{api.base_url}/chat/completions", content=json.dumps(body),
                          headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, timeout=30)
    assert response.status_code in (400, 403, 404), response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param"} and error["message"]
    assert token not in response.text and "Traceback" not in response.text
    assert _counts(session) == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_fuzzed_bytes_are_400(api, token, session, raw: bytes) -> None:
    try:
        json.loads(raw)
        assume(False)  # valid JSON is the other test's business
    except ValueError:
        pass
    response = httpx.post(f"{api.base_url}/chat/completions", content=raw,
                          headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
