"""Re-take the README's Admin (Teams) and Monitoring screenshots from a live portal with sample data.

Starts Parley on a free port with a temporary data directory, seeds two teams and 30 days of usage, and drives
the system Chromium (no download). Usage: python docs/make_screenshots.py
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from core.accounts import add_member, create_team  # noqa: E402
from core.db import make_engine  # noqa: E402
from core.models import TeamCreate, UsageStatus, User  # noqa: E402
from core.providers.base import Usage  # noqa: E402
from core.usage import record_usage  # noqa: E402
from tests.browser.conftest import (  # noqa: E402
    ADMIN_PASSWORD,
    CHROMIUM_ARGS,
    add_live_user,
    login,
    start_server,
    wait_idle,
)

OUT = Path(__file__).resolve().parent / "screenshots"


def seed(data_dir: Path) -> None:
    engine = make_engine(f"sqlite:///{data_dir / 'parley.db'}")
    rnd = random.Random(3)
    with Session(engine) as session:
        admin = session.exec(select(User.id).where(User.username == "admin")).one()
        names = ["dave", "mina", "joon"]
        users = {n: session.exec(select(User.id).where(User.username == n)).one() for n in names}
        research = create_team(session=session, actor_id=admin, team_in=TeamCreate(
            name="Research", budget_usd_per_month=200.0, tokens_per_month=20_000_000,
            allowed_models=["openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-0"])).id
        support = create_team(session=session, actor_id=admin, team_in=TeamCreate(
            name="Support", budget_usd_per_month=50.0, member_tokens_per_day=100_000,
            allowed_models=["openai/gpt-4o-mini", "local/smollm2-135m-instruct"])).id
        for name, team in (("dave", research), ("mina", research), ("joon", support), ("mina", support)):
            add_member(session=session, actor_id=admin, team_id=team, user_id=users[name])
        now = datetime.now(UTC)
        models = {research: [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-0")],
                  support: [("openai", "gpt-4o-mini")]}
        for _ in range(1500):
            name, team = rnd.choice([("dave", research), ("mina", research), ("joon", support), ("mina", support)])
            provider, model = rnd.choice(models[team])
            event = record_usage(session=session, user_id=users[name], conversation_id=None, provider=provider,
                                 model=model, usage=Usage(rnd.randrange(200, 3000), rnd.randrange(50, 800)),
                                 status=UsageStatus.complete, error_kind=None, ttft_ms=rnd.uniform(200, 1500),
                                 total_ms=rnd.uniform(1500, 6000), team_id=team)
            event.created_at = now - timedelta(seconds=rnd.randrange(30 * 86400))
        session.commit()
    engine.dispose()


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    server, proc = start_server(tmp)
    try:
        for name in ("dave", "mina", "joon"):
            add_live_user(server, name, "Sample-pass-123")
        seed(server.data_dir)
        executable = shutil.which("chromium") or shutil.which("chromium-browser")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            login(page, server.url, "admin", ADMIN_PASSWORD)
            page.goto(f"{server.url}/admin")
            wait_idle(page)
            page.get_by_role("tab", name="Teams").click()
            wait_idle(page)
            page.get_by_text("Edit Research").click()
            wait_idle(page)
            page.screenshot(path=str(OUT / "admin.png"))
            page.goto(f"{server.url}/monitoring")
            wait_idle(page)
            page.get_by_text("30 d", exact=True).first.click()
            wait_idle(page, settle_ms=1500)
            page.set_viewport_size({"width": 1280, "height": 1800})
            page.screenshot(path=str(OUT / "monitoring.png"))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
