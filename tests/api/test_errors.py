"""Raw HTTP: every error in OpenAI's shape with the status clients act on, and the rate headers."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx2 as httpx
import pytest
from sqlmodel import Session, func, select

from core.accounts import set_status
from core.api import create_token, revoke_token
from core.config import get_settings
from core.models import ApiToken, Conversation, UsageEvent, UserStatus, utcnow
from tests.fakes.provider_server import Reply

BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}


def _post(api, token: str | None, body: object = BODY, **kw) -> httpx.Response:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**headers, "Content-Type": "application/json", **kw.pop("headers", {})}
    return httpx.post(f"{api.base_url}/chat/completions", content=content, headers=headers, timeout=30, **kw)


def _error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "code", "param"}
    assert "Traceback" not in response.text
    return body["error"]


def _counts(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (session.exec(select(func.count()).select_from(UsageEvent)).one(),
            session.exec(select(func.count()).select_from(Conversation)).one())


def test_missing_or_malformed_authorization_is_401(api) -> None:
    assert _error(_post(api, None), 401)["code"] == "missing_api_key"
    assert _error(_post(api, None, headers={"Authorization": "Basic abc"}), 401)["code"] == "missing_api_key"
    wrong = _error(_post(api, "pk-notarealtoken0000000000000000000000000000"), 401)
    assert wrong["code"] == "invalid_api_key" and "pk-notarealtoken" not in str(wrong["message"])


def test_revoked_expired_disabled_and_pending_tokens_are_refused(api, session, alice, admin_id, provider) -> None:
    made = create_token(session=session, user_id=alice, name="ci")
    provider.enqueue("openai", Reply(chunks=["ok"]))
    assert _post(api, made.token).status_code == 200
    revoke_token(session=session, actor_id=alice, token_id=made.public.id)
    assert "revoked" in str(_error(_post(api, made.token), 401)["message"])

    soon = create_token(session=session, user_id=alice, name="short", expires_at=utcnow() + timedelta(hours=1))
    row = session.get(ApiToken, soon.public.id)
    assert row is not None
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.commit()
    assert "expired" in str(_error(_post(api, soon.token), 401)["message"])

    live = create_token(session=session, user_id=alice, name="live")
    set_status(session=session, actor_id=admin_id, user_id=alice, status=UserStatus.disabled)
    assert "not active" in str(_error(_post(api, live.token), 401)["message"])
    set_status(session=session, actor_id=admin_id, user_id=alice, status=UserStatus.pending)
    assert _post(api, live.token).status_code == 401


@pytest.mark.parametrize(("body", "param"), [
    (b"{not json", None),
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "openai/gpt-4o-mini", "messages": []}, "messages"),
    ({"model": "openai/gpt-4o-mini", "messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
    ({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": 5}]}, "messages.0.content.str"),
    ({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "temperature": 9}, "temperature"),
    ({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
    ({"model": "openai/gpt-4o-mini", "messages": [{"role": "assistant", "content": "x"}]}, None),
    ([1, 2, 3], None),
])
def test_invalid_bodies_are_400_naming_the_parameter_and_store_nothing(api, token, session, body, param) -> None:
    before = _counts(session)
    error = _error(_post(api, token, body), 400)
    assert error["type"] == "invalid_request_error"
    if param:
        assert error["param"] == param
    assert _counts(session) == before


def test_unknown_model_404_and_not_allowed_403(api, token) -> None:
    assert _error(_post(api, token, {**BODY, "model": "gpt-9"}), 404)["code"] == "model_not_found"
    denied = _error(_post(api, token, {**BODY, "model": "anthropic/claude-sonnet-4-0"}), 403)
    assert denied["code"] == "model_not_allowed" and "no API key" in str(denied["message"])


def test_bodies_over_the_limit_are_413_declared_or_streamed(api, token) -> None:
    over = get_settings().api.max_body_kb * 1024 + 100_000
    huge = {**BODY, "messages": [{"role": "user", "content": "x" * over}]}
    assert _error(_post(api, token, huge), 413)["code"] == "request_too_large"

    def chunks():  # type: ignore[no-untyped-def]
        data = json.dumps(huge).encode()
        for i in range(0, len(data), 65536):
            yield data[i:i + 65536]

    chunked = httpx.post(f"{api.base_url}/chat/completions", content=chunks(), timeout=30,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    _error(chunked, 413)


def test_context_too_long_for_the_model_is_400_and_nothing_is_cut(api, token, provider) -> None:
    long = {"model": "compatible/llama3.2", "messages": [{"role": "user", "content": "word " * 6000}]}  # > 8192
    error = _error(_post(api, token, long), 400)
    assert error["code"] == "context_length_exceeded"
    assert provider.calls("/chat/completions") == []


def test_rate_headers_on_success_and_429_with_retry_after(api, token, session, alice, admin_id, provider) -> None:
    from core.models import LimitPolicyUpdate
    from core.usage import set_user_limits

    set_user_limits(session=session, actor_id=admin_id, user_id=alice,
                    limits_in=LimitPolicyUpdate(requests_per_minute=2))
    provider.enqueue("openai", Reply(chunks=["1"]), Reply(chunks=["2"]))
    first, second = _post(api, token), _post(api, token)
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    remaining = "x-ratelimit-remaining-requests"
    assert (first.headers[remaining], second.headers[remaining]) == ("1", "0")
    refused = _post(api, token)
    error = _error(refused, 429)
    assert error["code"] == "rate_limit_exceeded"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    models = httpx.get(f"{api.base_url}/models", headers={"Authorization": f"Bearer {token}"})
    assert models.status_code == 200 and models.headers["x-ratelimit-remaining-requests"] == "0"


def test_budget_refusal_is_429_and_recorded_as_a_refusal(api, token, session, alice, admin_id) -> None:
    from core.models import LimitPolicyUpdate
    from core.usage import set_user_limits

    set_user_limits(session=session, actor_id=admin_id, user_id=alice, limits_in=LimitPolicyUpdate(tokens_per_day=1))
    session.add(UsageEvent(user_id=alice, provider="openai", model="gpt-4o-mini", tokens_in=5, tokens_out=5,
                           status="complete"))
    session.commit()
    refused = _post(api, token)
    assert "tokens" in str(_error(refused, 429)["message"]) and int(refused.headers["Retry-After"]) > 0
    session.expire_all()
    last = session.exec(select(UsageEvent).order_by(UsageEvent.id.desc())).first()  # type: ignore[union-attr]
    assert last is not None and (last.status, last.source, last.token_name) == ("refused", "api", "laptop script")


def test_guessing_tokens_from_one_address_is_throttled(api, monkeypatch) -> None:
    statuses = [_post(api, f"pk-guess{i:040d}").status_code for i in range(21)]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429


def test_unknown_paths_and_methods_answer_in_the_same_shape(api, token) -> None:
    assert _error(httpx.get(f"{api.base_url}/nope", headers={"Authorization": f"Bearer {token}"}), 404)
    _error(httpx.get(f"{api.base_url}/chat/completions", headers={"Authorization": f"Bearer {token}"}), 405)
