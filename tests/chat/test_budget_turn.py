"""A chat turn holds its worst case before each provider call (fallback attempts too) and settles each to the
recorded usage; a stream without usage from a paid model is estimated, marked so, and never free."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from core.chat import ConversationManager, Turn, TurnOptions
from core.config import ChatSettings, LimitDefaults, ModelInfo, ProviderCatalog, Settings, get_settings
from core.errors import RateLimited
from core.models import BudgetHold, Conversation, Message, MessageStatus, Role, UsageEvent, UsageStatus
from core.providers.base import (
    MESSAGE_MARKERS_BOUND,
    TOOLS_PROMPT_BOUND,
    ChatMessage,
    ChatRequest,
    Credentials,
    Tooling,
    prompt_bound,
    request_bound,
)
from core.providers.openai import OpenAIProvider
from core.usage import Budgets
from tests.chat.test_turn import alice  # noqa: F401  (fixture)
from tests.conftest import REDIS_URL
from tests.fakes.provider_server import FakeProviderServer, Reply
from tests.usage.test_budget import clear_redis_budgets

OPTIONS = TurnOptions(provider="openai", model="gpt-paid", temperature=0.2, max_tokens=100)


@pytest.fixture
def settings(engine: Engine, server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch) -> Settings:  # noqa: F811
    monkeypatch.setenv("PARLEY_KEYS__ALLOWED_PRIVATE_HOSTS", "[127.0.0.1]")
    get_settings.cache_clear()
    base = get_settings()
    client = {"base_url": server.openai_url, "max_retries": 0, "timeout_seconds": 5}
    limits = LimitDefaults(requests_per_minute=0, requests_per_day=0, tokens_per_day=100_000,
                           budget_usd_per_month=1.0)
    return base.model_copy(update={
        "chat": ChatSettings(fallback=["openai", "compatible"]),
        "limits": base.limits.model_copy(update={"user": limits}),
        "providers": {**base.providers,
                      "openai": ProviderCatalog(models={"gpt-paid": ModelInfo(price_in=100.0, price_out=400.0)},
                                                **client),
                      "compatible": ProviderCatalog(models={"compat-paid": ModelInfo(price_in=50.0, price_out=600.0)},
                                                    **client)},
    })


def _finish(turn: Turn) -> str:
    text = "".join(turn.deltas())
    turn.close()
    return text


def _events(session: Session) -> list[UsageEvent]:
    session.expire_all()
    return list(session.exec(select(UsageEvent).order_by(col(UsageEvent.id))).all())


def _standing(settings: Settings, engine: Engine, uid: int):  # type: ignore[no-untyped-def]
    return Budgets(settings, engine).standing(uid, settings.limits.for_role(Role.user))


def test_a_stream_without_usage_from_a_paid_model_is_estimated_and_never_free(
        engine, settings, server, alice, session) -> None:  # noqa: F811
    manager = ConversationManager(engine=engine, settings=settings)
    server.enqueue("openai", Reply(chunks=["Paid", " words", " here"], include_usage=False))
    _finish(manager.send(user_id=alice, conversation_id=None, text="hello there", options=OPTIONS))
    (event,) = _events(session)
    assert event.estimated and event.tokens_in > 0 and event.tokens_out > 0 and event.cost_usd > 0
    assert event.hold_id is not None
    standing = _standing(settings, engine, alice)
    assert standing.usd_held == 0 and standing.usd_month == pytest.approx(event.cost_usd, abs=1e-6)
    assert session.exec(select(func.count()).select_from(BudgetHold)).one() == 0


def test_a_send_that_could_overrun_is_refused_before_anything_is_stored(engine, settings, server, alice,  # noqa: F811
                                                                        session) -> None:
    manager = ConversationManager(engine=engine, settings=settings)
    big = TurnOptions(provider="openai", model="gpt-paid", max_tokens=3000)  # $1.20 out + the prompt: > $1.00
    with pytest.raises(RateLimited, match=r"could cost up to \$1.21.*\$1.00 budget for this month"):
        manager.send(user_id=alice, conversation_id=None, text="a long essay please", options=big)
    assert server.history == []  # no provider was asked
    assert session.exec(select(func.count()).select_from(Conversation)).one() == 0
    assert session.exec(select(func.count()).select_from(Message)).one() == 0
    assert [(e.status, e.error_kind) for e in _events(session)] == [(UsageStatus.refused, "rate_limited")]
    assert session.exec(select(func.count()).select_from(BudgetHold)).one() == 0


def test_each_fallback_attempt_holds_and_settles_its_own_worst_case(engine, settings, server, alice,  # noqa: F811
                                                                    session) -> None:
    manager = ConversationManager(engine=engine, settings=settings)
    server.enqueue("openai", Reply(status=503), Reply(chunks=["from", " compat"]))
    turn = manager.send(user_id=alice, conversation_id=None, text="hello", options=OPTIONS)
    assert _finish(turn) == "from compat"
    failed, answered = _events(session)
    assert (failed.status, failed.provider, failed.cost_usd) == (UsageStatus.error, "openai", 0.0)
    assert (answered.status, answered.provider) == (UsageStatus.complete, "compatible") and answered.cost_usd > 0
    assert failed.hold_id and answered.hold_id and failed.hold_id != answered.hold_id
    assert _standing(settings, engine, alice).usd_month == pytest.approx(answered.cost_usd, abs=1e-6)
    assert session.exec(select(func.count()).select_from(BudgetHold)).one() == 0


def test_a_fallback_that_could_overrun_is_not_asked(engine, settings, server, alice, session) -> None:  # noqa: F811
    manager = ConversationManager(engine=engine, settings=settings)
    options = TurnOptions(provider="openai", model="gpt-paid", max_tokens=1500)  # worst: $0.60, fallback $0.90
    hold = Budgets(settings, engine).reserve(user_id=alice, limits=settings.limits.user, exempt=False,
                                             provider="compatible", model="compat-paid", prompt_tokens=0,
                                             max_tokens=500)  # another request of hers holds $0.30
    server.enqueue("openai", Reply(status=503))
    turn = manager.send(user_id=alice, conversation_id=None, text="hello", options=options)
    _finish(turn)
    assert turn.outcome is not None and turn.outcome.status == MessageStatus.error
    assert "budget" in (turn.outcome.error or "") and turn.outcome.error_kind == "rate_limited"
    assert [c.body["model"] for c in server.history] == ["gpt-paid"]  # compatible was never asked
    assert _standing(settings, engine, alice).usd_held == pytest.approx(0.30, abs=1e-3)  # only the other one
    Budgets(settings, engine).release(hold)


def test_stopping_mid_stream_settles_what_was_produced(engine, settings, server, alice, session) -> None:  # noqa: F811
    manager = ConversationManager(engine=engine, settings=settings)
    server.enqueue("openai", Reply(chunks=["a", "b", "c", "d"], chunk_delay=0.05))
    turn = manager.send(user_id=alice, conversation_id=None, text="count", options=OPTIONS)
    assert next(turn.deltas()) == "a"
    assert turn.close().status == MessageStatus.interrupted
    (event,) = _events(session)
    assert event.status == UsageStatus.interrupted and event.estimated and event.cost_usd > 0
    standing = _standing(settings, engine, alice)
    assert standing.usd_held == 0 and standing.usd_month == pytest.approx(event.cost_usd, abs=1e-6)


@pytest.mark.parametrize("ledger", ["database"] + (["redis"] if REDIS_URL else []))
def test_r2_row21_adversarial_usage_never_settles_past_a_budget(engine, settings, server, alice, session,  # noqa: F811
                                                                ledger) -> None:
    """Issue 21, row 21: a provider counting more prompt tokens than Parley's estimate ("hi": counted 5), and streams
    cut short, estimated above max_tokens (45 vs 20), settled more than they held: $1.027 and $1.12 against $1.00.
    Now a hold bounds what can be billed (the prompt's UTF-8 bytes plus the template's markers; max_tokens out) and
    an estimate never goes past it. 16 threads of API requests race for the last dollar."""
    if ledger == "redis":
        clear_redis_budgets()
        settings = settings.model_copy(update={"redis_url": REDIS_URL})
    manager = ConversationManager(engine=engine, settings=settings)
    options = TurnOptions(provider="openai", model="gpt-paid", temperature=0.2, max_tokens=100)
    hi = [ChatMessage("user", "hi")]
    bound = prompt_bound(["hi"])  # the most input tokens a provider can count for "hi" (74): it reports that
    for i in range(240):
        server.enqueue("openai", Reply(chunks=["ok"] * 10, tokens_in=bound, tokens_out=100) if i % 2 else
                       Reply(chunks=["overlong-words-of-the-cut-reply-" * 4] * 40, include_usage=False, drop_after=39))
    outcomes: list[str] = []

    def client() -> None:
        for _ in range(15):  # about twenty calls fit in the dollar: 240 tries, most refused once it is spent
            try:
                turn = manager.ask(user_id=alice, conversation=hi, options=options)
            except RateLimited:
                outcomes.append("refused")
                continue
            "".join(turn.deltas())
            outcomes.append(str(turn.close().status))

    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    events = _events(session)
    spent = sum(e.cost_usd for e in events)
    assert {"complete", "interrupted", "refused"} <= set(outcomes)  # both kinds of adversarial call ran, then no room
    assert any(e.estimated and e.status == UsageStatus.interrupted for e in events)
    assert spent <= 1.0 + 1e-12  # never past the budget
    standing = _standing(settings, engine, alice)
    assert standing.usd_held == 0 and standing.usd_month == pytest.approx(spent, rel=1e-12)  # counters = records
    assert session.exec(select(func.count()).select_from(BudgetHold)).one() == 0


def test_tools_are_held_for_all_they_can_be_billed(engine, settings, server, alice, session) -> None:  # noqa: F811
    """A request with tools is billed for their definitions too (and a provider's tool-use prompt): its hold covers
    the definitions' bytes and TOOLS_PROMPT_BOUND, so a provider billing all of that settles inside the hold."""
    tool = {"type": "function", "function": {"name": "lookup", "description": "Look a word up " * 40,
                                             "parameters": {"type": "object", "properties": {}}}}
    tooling = Tooling(tools=(tool,), choice="auto")
    hi = [ChatMessage("user", "hi")]
    openai = OpenAIProvider(settings.providers["openai"], Credentials(api_key="sk-good-key"))
    bare, tooled = (request_bound(ChatRequest("gpt-paid", hi, tooling=t), openai) for t in (None, tooling))
    assert tooled - bare == TOOLS_PROMPT_BOUND + sum(len(t.encode()) + MESSAGE_MARKERS_BOUND for t in tooling.texts())
    server.enqueue("openai", Reply(chunks=[], tool_calls=[("call_1", "lookup", {})], tokens_in=tooled, tokens_out=100))
    manager = ConversationManager(engine=engine, settings=settings)
    turn = manager.ask(user_id=alice, conversation=hi, options=replace(OPTIONS, tooling=tooling))
    held = _standing(settings, engine, alice).usd_held
    outcome = (_finish(turn), turn.close())[1]
    assert outcome.status == MessageStatus.complete and [c.name for c in outcome.tool_calls] == ["lookup"]
    [event] = _events(session)
    assert event.tokens_in == tooled and 0 < event.cost_usd <= held
    assert session.exec(select(func.count()).select_from(BudgetHold)).one() == 0
