"""Hardening, round 2 (issue 21), the API's findings: one user cannot starve the API (a per-user concurrency cap;
cancellation when the client leaves at any point), a valid token is never refused for other clients' failures,
the team header reveals nothing, numbers out of range are 4xx and unexpected errors a JSON 500 logged once,
limits of 0 are unlimited, and API refusals are recorded in usage."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from sqlmodel import Session, col, select

from core import limiter
from core.accounts import create_team
from core.api import create_token
from core.chat import chat_manager
from core.config import get_settings, load_settings
from core.errors import ConfigError
from core.limiter import limiter_storage
from core.logging import JsonFormatter
from core.models import LimitPolicyUpdate, TeamCreate, UsageEvent
from core.usage import set_user_limits
from tests.api.conftest import Api, serve_api
from tests.conftest import REDIS_URL, add_user
from tests.fakes.provider_server import Reply

BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
STORES = ["memory"] + (["redis"] if REDIS_URL else [])
Serve = Callable[..., Api]


@pytest.fixture
def serve(api_env: None, engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:  # type: ignore[no-untyped-def]
    """Start the API with extra settings (environment variables), e.g. serve(PARLEY_API__WORKERS="3")."""
    started: list[Api] = []

    def start(**env: str) -> Api:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        chat_manager.cache_clear()
        limiter.reset_storages()
        started.append(serve_api())
        return started[-1]

    yield start
    for api in started:
        api.server.should_exit = True


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> dict[str, str]:
    """The limits' storage: this process's memory, or Redis (emptied first: its windows outlive a test)."""
    if request.param == "memory":
        return {}
    limiter_storage(REDIS_URL).reset()
    return {"REDIS_URL": REDIS_URL}


def _post(api: Api, token: str, body: object = BODY, **headers: str | bytes) -> httpx.Response:
    return httpx.post(f"{api.base_url}/chat/completions", content=json.dumps(body).encode(), timeout=30,
                      headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers})


def _error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param"} and "Traceback" not in response.text
    return error


def _open(api: Api, token: str, body: dict[str, object]) -> socket.socket:
    """A request sent on a raw connection, left unread: closing the socket is a client that goes away."""
    url = urlsplit(api.base_url)
    data = json.dumps(body).encode()
    sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=30)
    sock.sendall(f"POST {url.path}/chat/completions HTTP/1.1\r\nHost: {url.netloc}\r\n"
                 f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    return sock


def _hang_up(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _wait_for(check: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what}")
        time.sleep(0.05)


def _events(session: Session) -> list[UsageEvent]:
    session.expire_all()
    return list(session.exec(select(UsageEvent).order_by(col(UsageEvent.id))))


def _provider_calls(provider, n: int) -> Callable[[], bool]:  # type: ignore[no-untyped-def]
    return lambda: len(provider.calls("/chat/completions")) >= n


# 6 — one user cannot starve the API


def test_r2_row06_past_the_cap_a_user_is_refused_naming_it_and_others_are_served(serve: Serve, token, provider,
                                                                                  session, alice) -> None:
    api = serve(PARLEY_API__WORKERS="3", PARLEY_API__MAX_CONCURRENT_PER_USER="2")
    bob = create_token(session=session, user_id=add_user(session, "bob"), name="bob's script").token
    slow = [f" w{i}" for i in range(400)]
    provider.enqueue("openai", Reply(chunks=slow, chunk_delay=0.05), Reply(chunks=slow, chunk_delay=0.05),
                     Reply(chunks=["for bob"]), Reply(chunks=["again"]))
    streams = [_open(api, token, {**BODY, "stream": True}) for _ in range(2)]
    try:
        _wait_for(_provider_calls(provider, 2), "alice's two streams to reach the provider")
        refused = _post(api, token)
        error = _error(refused, 429)
        assert error["code"] == "too_many_concurrent_requests" and "api.max_concurrent_per_user" in str(
            error["message"]) and "2" in str(error["message"]) and refused.headers["Retry-After"] == "1"
        served = _post(api, bob)  # the third worker is still free for everyone else
        assert served.status_code == 200 and served.json()["choices"][0]["message"]["content"] == "for bob"
    finally:
        for sock in streams:
            _hang_up(sock)
    _wait_for(lambda: sum(e.status == "interrupted" for e in _events(session)) == 2, "the streams to stop")
    assert _post(api, token).status_code == 200  # their slots came back when their turns ended
    refusals = [e for e in _events(session) if e.status == "refused"]
    assert [(e.user_id, e.source, e.error_kind, e.token_name, e.provider, e.model) for e in refusals] == [
        (alice, "api", "concurrency_limit", "laptop script", "openai", "gpt-4o-mini")]


def test_r2_row06_refused_and_failed_requests_give_their_slot_back(serve: Serve, token, provider, session, alice,
                                                                   admin_id) -> None:
    api = serve(PARLEY_API__WORKERS="2", PARLEY_API__MAX_CONCURRENT_PER_USER="1")
    for _ in range(3):
        _error(_post(api, token, {**BODY, "model": "anthropic/claude-sonnet-4-0"}), 403)  # no key: refused inside
        _error(_post(api, token, {**BODY, "knowledge_bases": [12345]}), 404)
        provider.enqueue("openai", Reply(status=500), Reply(status=500))  # both providers of the chain fail
        assert _post(api, token).status_code in (502, 503)
    set_user_limits(session=session, actor_id=admin_id, user_id=alice, limits_in=LimitPolicyUpdate(tokens_per_day=1))
    _error(_post(api, token), 429)  # a budget refusal
    set_user_limits(session=session, actor_id=admin_id, user_id=alice,
                    limits_in=LimitPolicyUpdate(tokens_per_day=0))
    provider.enqueue("openai", Reply(chunks=["still here"]))
    assert _post(api, token).json()["choices"][0]["message"]["content"] == "still here"


def test_r2_row06_a_stream_abandoned_before_its_first_token_is_cancelled_and_recorded_interrupted(
        serve: Serve, token, provider, session) -> None:
    api = serve()
    # A long think, then the whole answer in one piece: nothing but the client's leaving can interrupt it.
    provider.enqueue("openai", Reply(chunks=["The whole answer, at once."], first_delay=1.0))
    sock = _open(api, token, {**BODY, "stream": True})
    _wait_for(_provider_calls(provider, 1), "the provider to be asked")
    _hang_up(sock)  # before the first token
    _wait_for(lambda: len(_events(session)) == 1, "the call to be recorded")
    event = _events(session)[0]
    assert (event.status, event.error_kind, event.source) == ("interrupted", "stopped", "api")
    time.sleep(0.3)
    assert len(_events(session)) == 1  # recorded once


def test_r2_row06_a_whole_reply_abandoned_midway_is_cancelled_and_recorded_interrupted(serve: Serve, token, provider,
                                                                                         session) -> None:
    api = serve()
    chunks = [f" w{i}" for i in range(40)]
    provider.enqueue("openai", Reply(chunks=chunks, first_delay=0.3, chunk_delay=0.05))
    sock = _open(api, token, BODY)  # not streamed: nothing is sent to the client before the end
    _wait_for(_provider_calls(provider, 1), "the provider to be asked")
    _hang_up(sock)
    _wait_for(lambda: len(_events(session)) == 1, "the call to be recorded")
    event = _events(session)[0]
    assert (event.status, event.error_kind) == ("interrupted", "stopped")
    assert event.tokens_out < len(chunks)


def test_r2_row06_the_cap_must_be_below_the_workers(parley_env) -> None:  # type: ignore[no-untyped-def]
    env = {"PARLEY_DATA_DIR": str(parley_env), "PARLEY_API__WORKERS": "4"}
    with pytest.raises(ConfigError, match=r"max_concurrent_per_user \(4\) must be below api\.workers \(4\)"):
        load_settings(environ={**env, "PARLEY_API__MAX_CONCURRENT_PER_USER": "4"})
    assert load_settings(environ={**env, "PARLEY_API__MAX_CONCURRENT_PER_USER": "3"}).api.max_concurrent_per_user == 3
    defaults = load_settings(environ={"PARLEY_DATA_DIR": str(parley_env)}).api
    assert defaults.max_concurrent_per_user < defaults.workers


# 7 — a valid token is never refused because of other clients' failures


def test_r2_row07_a_valid_token_is_accepted_from_an_address_throttled_by_others_guesses(serve: Serve, store, token,
                                                                                         provider) -> None:
    api = serve(**store)
    guesses = [_post(api, f"pk-guess{i:040d}").status_code for i in range(21)]
    assert guesses[:20] == [401] * 20 and guesses[20] == 429  # this address is throttled now
    provider.enqueue("openai", Reply(chunks=["welcome"]))
    accepted = _post(api, token)
    assert accepted.status_code == 200 and accepted.json()["choices"][0]["message"]["content"] == "welcome"
    assert httpx.get(f"{api.base_url}/models", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    throttled = _post(api, "pk-guess-again0000000000000000000000000000")
    assert _error(throttled, 429)["code"] == "rate_limit_exceeded" and int(throttled.headers["Retry-After"]) >= 1


# 14 — the team header reveals nothing about teams the caller is not in


def test_r2_row14_a_team_the_caller_is_not_in_is_refused_without_a_hint(api, token, session, admin_id) -> None:
    secret = create_team(session=session, actor_id=admin_id, team_in=TeamCreate(name="Project Nightjar"))
    answers = [_error(_post(api, token, **{"X-Parley-Team": value}), 403)
               for value in (str(secret.id), "Project Nightjar", str(secret.id + 1000), "No Such Team")]
    assert all("Nightjar" not in str(a["message"]) for a in answers)
    assert len({json.dumps(a, sort_keys=True) for a in answers}) == 1  # existing or not: the very same answer
    assert "not a member" in str(answers[0]["message"])


# 15 — numbers out of range are 4xx; an unexpected error is a JSON 500 with an id, logged once


@pytest.mark.parametrize("team", [b"99999999999999999999999", b"2147483648", b"9223372036854775808", b"-1", b"0",
                                  b"1e3", b"\xb2", "²".encode(), "١٢".encode()])  # ² in Latin-1 and UTF-8; Arabic 12
def test_r2_row15_team_header_numbers_out_of_range_are_403(api, token, team: bytes) -> None:
    assert _error(_post(api, token, **{"X-Parley-Team": team}), 403)["code"] == "permission_denied"


@pytest.mark.parametrize(("extra", "param"), [
    ({"knowledge_bases": [2**62]}, "knowledge_bases.0"),
    ({"knowledge_bases": [2**63]}, "knowledge_bases.0"),
    ({"knowledge_bases": [2**31]}, "knowledge_bases.0"),
    ({"knowledge_bases": [10**30]}, "knowledge_bases.0"),
    ({"knowledge_bases": [0]}, "knowledge_bases.0"),
    ({"knowledge_bases": [-1]}, "knowledge_bases.0"),
    ({"max_tokens": 2**62}, "max_tokens"),
    ({"max_completion_tokens": 10**30}, "max_completion_tokens"),
    ({"temperature": 10**400}, "temperature"),
    ({"n": 2**64}, "n"),
])
def test_r2_row15_body_numbers_out_of_range_are_400(api, token, extra: dict[str, object], param: str) -> None:
    assert _error(_post(api, token, {**BODY, **extra}), 400)["param"] == param


def test_r2_row15_ids_in_range_that_do_not_exist_are_404(api, token) -> None:
    assert _error(_post(api, token, {**BODY, "knowledge_bases": [2**31 - 1]}), 404)["code"] == "not_found"
    models = httpx.get(f"{api.base_url}/models/99999999999999999999999", headers={"Authorization": f"Bearer {token}"})
    assert _error(models, 404)["code"] == "model_not_found"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def error_logs() -> Iterator[_Records]:
    """Every error logged by anyone: ours (the root logger) and the server's own (uvicorn's, which stops there)."""
    records = _Records()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn"), logging.getLogger("uvicorn.error")]
    for logger in loggers:
        logger.addHandler(records)
    yield records
    for logger in loggers:
        logger.removeHandler(records)


def _logged_once(error_logs: _Records, response: httpx.Response) -> dict[str, object]:
    error = _error(response, 500)
    correlation = response.headers["x-parley-error-id"]
    assert error["code"] == "server_error" and correlation in str(error["message"])
    errors = [r for r in error_logs.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]  # once, and nothing from the server itself
    line = json.loads(JsonFormatter().format(errors[0]))
    assert line["correlation_id"] == correlation and "Traceback" in line["exception"]
    return line


def test_r2_row15_an_unexpected_error_is_a_json_500_with_an_id_logged_once_masked(api, token, monkeypatch,
                                                                                  error_logs) -> None:
    from core.api import completions

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom near sk-live-0123456789abcdef")

    monkeypatch.setattr(completions, "turn_inputs", broken)
    line = _logged_once(error_logs, _post(api, token))
    assert "sk-live-0123456789abcdef" not in json.dumps(line) and "boom near sk-***" in str(line["exception"])


@pytest.mark.parametrize("stream", [False, True])
def test_r2_row15_a_turn_that_fails_unexpectedly_is_a_json_500_logged_once(api, token, monkeypatch, error_logs,
                                                                           stream: bool) -> None:
    from core.chat import Turn

    def broken(self: Turn) -> Iterator[str]:
        raise RuntimeError("the turn broke")

    monkeypatch.setattr(Turn, "deltas", broken)
    _logged_once(error_logs, _post(api, token, {**BODY, "stream": stream}))


# 20 — request limits of 0 are "unlimited", alone or mixed


@pytest.mark.parametrize(("per_minute", "per_day"), [(0, 0), (0, 2), (2, 0)])
def test_r2_row20_request_limits_of_zero_are_unlimited(serve: Serve, store, token, provider, session, alice,
                                                       admin_id, per_minute: int, per_day: int) -> None:
    set_user_limits(session=session, actor_id=admin_id, user_id=alice,
                    limits_in=LimitPolicyUpdate(requests_per_minute=per_minute, requests_per_day=per_day))
    api = serve(**store)  # a fresh process: no other request has published any window before
    provider.enqueue("openai", *[Reply(chunks=["ok"]) for _ in range(3)])
    answers = [_post(api, token) for _ in range(3)]
    limited = per_minute or per_day
    assert [a.status_code for a in answers] == ([200, 200, 429] if limited else [200, 200, 200])
    models = httpx.get(f"{api.base_url}/models", headers={"Authorization": f"Bearer {token}"})
    assert models.status_code == 200
    assert ("x-ratelimit-limit-requests" in models.headers) == bool(limited)


# 24 — the API's refusals are recorded in usage, as the chat's are


def test_r2_row24_a_request_window_refusal_is_recorded(serve: Serve, store, token, provider, session, alice,
                                                       admin_id) -> None:
    set_user_limits(session=session, actor_id=admin_id, user_id=alice,
                    limits_in=LimitPolicyUpdate(requests_per_minute=1))
    api = serve(**store)
    provider.enqueue("openai", Reply(chunks=["ok"]))
    assert _post(api, token).status_code == 200
    _error(_post(api, token, {**BODY, "stream": True}), 429)
    events = _events(session)
    assert [(e.status, e.error_kind, e.source, e.token_name, e.provider, e.model, e.tokens_in, e.cost_usd)
            for e in events] == [
        ("complete", None, "api", "laptop script", "openai", "gpt-4o-mini", 12, events[0].cost_usd),
        ("refused", "rate_limited", "api", "laptop script", "openai", "gpt-4o-mini", 0, 0.0)]
