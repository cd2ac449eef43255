"""Prices: cached input priced as the provider reports it (OpenAI and Anthropic, through the real SDKs), and
admins' overrides (audited) used for recorded costs and for budget reservations."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from core.accounts import audit_log
from core.chat import ConversationManager, TurnOptions
from core.config import get_settings
from core.errors import NotFound, PermissionDenied, ValidationError
from core.models import UsageEvent, User
from core.providers.base import Usage
from core.usage import Budgets, clear_price, cost_usd, price_of, set_price
from tests.conftest import add_user
from tests.fakes.provider_server import FakeProviderServer, Reply


def _admin(session: Session) -> int:
    return session.exec(select(User.id).where(User.username == "admin")).one()


@pytest.mark.parametrize(("provider", "model", "paid"), [
    ("openai", "gpt-4o", (600 * 2.50 + 400 * 1.25 + 50 * 10.0) / 1e6),
    ("anthropic", "claude-sonnet-4-0", (600 * 3.00 + 400 * 0.30 + 50 * 15.0) / 1e6),
])
def test_cached_input_is_priced_as_the_provider_reports_it(engine, session: Session, monkeypatch, provider: str,
                                                           model: str, paid: float) -> None:
    server = FakeProviderServer().start()
    try:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-good-key")
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-good-key")
        monkeypatch.setenv("PARLEY_PROVIDERS__OPENAI__BASE_URL", server.openai_url)
        monkeypatch.setenv("PARLEY_PROVIDERS__ANTHROPIC__BASE_URL", server.anthropic_url)
        get_settings.cache_clear()
        manager = ConversationManager(engine=engine, settings=get_settings())
        uid = add_user(session, "ann")
        server.enqueue(provider, Reply(chunks=["cached", " answer"], tokens_in=1000, tokens_out=50,
                                       cached_tokens=400))
        turn = manager.send(user_id=uid, conversation_id=None, text="the same long prompt",
                            options=TurnOptions(provider=provider, model=model, max_tokens=100))
        "".join(turn.deltas())
        turn.close()
    finally:
        server.stop()
    event = session.exec(select(UsageEvent).order_by(col(UsageEvent.id).desc())).first()
    assert event is not None and (event.tokens_in, event.tokens_cached, event.tokens_out) == (1000, 400, 50)
    assert event.cost_usd == pytest.approx(paid)


def test_an_admin_price_override_is_audited_and_used_for_costs_and_reservations(engine, session: Session) -> None:
    admin, ann = _admin(session), add_user(session, "ann")
    usage = Usage(1_000_000, 1_000_000)
    assert cost_usd("openai", "gpt-4o", usage) == pytest.approx(12.50)  # config.yaml: $2.50 + $10.00
    with pytest.raises(PermissionDenied):
        set_price(session=session, actor_id=ann, provider="openai", model="gpt-4o", price_in=0, price_out=0)
    with pytest.raises(NotFound):
        set_price(session=session, actor_id=admin, provider="openai", model="gpt-9", price_in=1, price_out=1)
    with pytest.raises(ValidationError, match="between 0 and"):
        set_price(session=session, actor_id=admin, provider="openai", model="gpt-4o", price_in=-1, price_out=1)
    set_price(session=session, actor_id=admin, provider="openai", model="gpt-4o", price_in=5.0, price_out=20.0)
    price = price_of("openai", "gpt-4o")
    assert price is not None and price.overridden and (price.price_in, price.price_out) == (5.0, 20.0)
    assert cost_usd("openai", "gpt-4o", usage) == pytest.approx(25.0)
    assert Budgets(engine=engine).worst_case("openai", "gpt-4o", 1000, 1000) == (2000, 25_000 * 10**6)  # pico-dollars
    assert clear_price(session=session, actor_id=admin, provider="openai", model="gpt-4o")
    assert cost_usd("openai", "gpt-4o", usage) == pytest.approx(12.50)
    entries = [e for e in audit_log(session=session, actor_id=admin) if e.action.startswith("prices.")]
    assert [e.action for e in entries] == ["prices.clear", "prices.set"]
    assert entries[1].target == "openai/gpt-4o" and "20.0" in entries[1].detail



