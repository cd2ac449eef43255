"""Prometheus metrics, health checks, secrets kept out of logs, and the monitoring pages (AppTest)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from core.accounts import create_user
from core.config import PROJECT_ROOT, ProviderCatalog, get_settings
from core.db import get_engine
from core.errors import InvalidProviderKey
from core.health import health_checks
from core.logging import JsonFormatter
from core.models import UsageEvent, User, UserCreate, utcnow
from core.providers.base import ChatMessage, ChatRequest, Credentials
from core.providers.openai import OpenAIProvider
from core.usage.telemetry import observe, render
from tests.fakes.provider_server import FakeProviderServer, Reply


def test_metrics_expose_counters_and_histograms_without_user_labels() -> None:
    observe(provider="openai", model="gpt-4o", status="complete", tokens_in=120, tokens_out=30, cost_usd=0.001,
            error_kind=None, cache_hit=False, ttft_ms=250, total_ms=900)
    observe(provider="openai", model="gpt-4o", status="error", tokens_in=0, tokens_out=0, cost_usd=0,
            error_kind="timeout", cache_hit=False, ttft_ms=None, total_ms=60000)
    body, content_type = render()
    text = body.decode()
    assert content_type.startswith("text/plain")
    assert 'parley_llm_requests_total{model="gpt-4o",provider="openai",status="complete"}' in text
    assert 'parley_llm_tokens_total{direction="in",model="gpt-4o",provider="openai"}' in text
    assert 'parley_llm_errors_total{kind="timeout",model="gpt-4o",provider="openai"}' in text
    assert "parley_llm_time_to_first_token_seconds_bucket" in text
    assert "user" not in text.replace("user_", "")


def test_health_reports_database_and_redis(parley_env, monkeypatch) -> None:
    assert health_checks() == {"database": "ok"}
    monkeypatch.setenv("PARLEY_REDIS_URL", "redis://127.0.0.1:9/0")
    get_settings.cache_clear()
    assert health_checks() == {"database": "ok", "redis": "error"}


def test_a_key_inside_a_provider_error_never_reaches_the_log() -> None:
    server = FakeProviderServer().start()
    secret = "sk-proj-Abc123SECRETsecret456"
    server.enqueue("openai", Reply(status=401, error_message=f"Incorrect API key provided: {secret}."))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        catalog = ProviderCatalog(base_url=server.openai_url, max_retries=0)
        provider = OpenAIProvider(catalog, Credentials(api_key=secret))
        with pytest.raises(InvalidProviderKey) as info:
            list(provider.stream(ChatRequest(model="m", messages=[ChatMessage("user", "hi")])))
    finally:
        root.removeHandler(handler)
        server.stop()
    logged = stream.getvalue()
    assert "provider error" in logged and "status 401" in logged
    assert "Incorrect API key provided" not in logged  # a refused key's body is never logged: it may echo the key
    assert secret not in logged and "SECRET" not in logged
    assert secret not in info.value.user_message


def _page(script: str, username: str) -> AppTest:
    at = AppTest.from_file(str(PROJECT_ROOT / script), default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    at.session_state["parley_login_at"] = utcnow()
    return at


def _seed_usage() -> int:
    with Session(get_engine()) as session:
        admin = session.exec(select(User.id).where(User.username == "admin")).one()
        for i in range(12):
            session.add(UsageEvent(user_id=admin, provider="openai", model="gpt-4o-mini", tokens_in=100, tokens_out=20,
                                   cost_usd=0.001, ttft_ms=200 + i, total_ms=800, status="complete"))
        session.commit()
        return admin


def test_monitoring_page_renders_kpis_and_charts(sqlite_app: Path) -> None:
    _seed_usage()
    at = _page("pages/monitoring.py", "admin").run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 7  # requests, tokens, cost by user, by model, by team, latency, errors
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Requests"] == "12" and metrics["Cost"] == "$0.01"


def test_monitoring_refuses_plain_users(sqlite_app: Path) -> None:
    admin = _seed_usage()
    with Session(get_engine()) as session:
        create_user(session=session, actor_id=admin, user_in=UserCreate(
            username="bob", email="bob@example.com", display_name="Bob", password="Bob-pass-1234"))
    at = _page("pages/monitoring.py", "bob").run()
    assert "administrators only" in at.error[0].value
    assert not at.get("plotly_chart")


def test_my_usage_shows_only_my_numbers(sqlite_app: Path) -> None:
    admin = _seed_usage()
    with Session(get_engine()) as session:
        bob = create_user(session=session, actor_id=admin, user_in=UserCreate(
            username="bob", email="bob@example.com", display_name="Bob", password="Bob-pass-1234"))
        session.add(UsageEvent(user_id=bob.id, provider="local", model="smollm2-135m-instruct", status="complete",
                               tokens_in=7, tokens_out=3))
        session.commit()
    at = _page("pages/settings.py", "bob").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Requests"], metrics["Tokens in"], metrics["Tokens out"]) == ("1", "7", "3")
    assert any("requests left this minute" in c.value for c in at.caption)
