"""Browser: an admin opens Monitoring and sees the KPI tiles and the Plotly charts."""

from __future__ import annotations

import json
import random
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, expect
from sqlmodel import Session, select

from core.db import make_engine
from core.models import UsageEvent, User
from tests.browser.conftest import ADMIN_PASSWORD, ARTIFACTS, LiveServer, login, wait_idle

pytestmark = pytest.mark.browser
MODELS = [("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-0"), ("local", "smollm2-135m-instruct")]


def _seed(server: LiveServer) -> None:
    rnd = random.Random(5)
    now = datetime.now(UTC)
    engine = make_engine(f"sqlite:///{server.data_dir / 'parley.db'}")
    with Session(engine) as session:
        admin = session.exec(select(User.id).where(User.username == "admin")).one()
        for _ in range(1500):
            provider, model = rnd.choice(MODELS)
            failed = rnd.random() < 0.04
            session.add(UsageEvent(
                user_id=admin, provider=provider, model=model, status="error" if failed else "complete",
                error_kind=rnd.choice(["unavailable", "timeout"]) if failed else None,
                tokens_in=0 if failed else rnd.randrange(50, 2000), tokens_out=0 if failed else rnd.randrange(10, 800),
                cost_usd=0 if failed else rnd.random() / 200, ttft_ms=None if failed else rnd.uniform(120, 1800),
                total_ms=rnd.uniform(400, 9000), created_at=now - timedelta(minutes=rnd.randrange(7 * 1440))))
        session.commit()
    engine.dispose()


def test_admin_sees_monitoring_charts(live_server: LiveServer, browser: Browser) -> None:
    _seed(live_server)
    page = browser.new_page(viewport={"width": 1400, "height": 1700})
    login(page, live_server.url, "admin", ADMIN_PASSWORD)
    page.get_by_role("link", name="Monitoring").click()
    wait_idle(page)
    expect(page.locator(".js-plotly-plot")).to_have_count(7, timeout=20_000)  # cost by team included
    expect(page.get_by_text("Requests by model")).to_be_visible()
    expect(page.get_by_test_id("stMetric").filter(has_text="Requests")).to_contain_text(",")
    page.wait_for_timeout(800)  # let Plotly finish drawing before the picture
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "monitoring.png"))
    page.close()


def test_metrics_and_healthz_endpoints(live_server: LiveServer) -> None:
    with urllib.request.urlopen(f"{live_server.url}/metrics") as resp:
        assert resp.status == 200
        assert "parley_llm_requests_total" in resp.read().decode()
    with urllib.request.urlopen(f"{live_server.url}/healthz") as resp:
        assert json.loads(resp.read()) == {"status": "ok", "database": "ok"}
