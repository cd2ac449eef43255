"""Issue #25, optional reranking: with knowledge.rerank on, the conversation's model orders the best passages
(listwise) and the turn keeps top_k of its order; metered like any call; off by default; a failure keeps the
retrieval's order; never the bundled model. The real openai SDK against the wire-protocol server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.chat import ConversationManager, TurnOptions
from core.chat.rerank import reordered
from core.config import Settings, get_settings
from core.knowledge import Hit, forget_clients
from core.models import UsageEvent, UsageKind, UsageStatus
from core.providers.base import Credentials
from core.providers.local import LocalProvider
from tests.chat.test_translation import MODEL, _knowledge, _user, priced_openai
from tests.fakes.provider_server import FakeProviderServer, Reply

HANDBOOK = b"""# Theft
Report a stolen laptop to the IT service desk within 24 hours, and file a police report.
# Refresh
Developers receive a new laptop every three years; everyone else every four years.
"""
QUESTION = "How often do developers get a new laptop?"


@pytest.fixture
def settings(engine: Engine, server: FakeProviderServer) -> Iterator[Settings]:
    forget_clients()
    base = priced_openai(server)
    yield base.model_copy(update={"knowledge": base.knowledge.model_copy(
        update={"rerank": True, "rerank_candidates": 5, "top_k": 1})})
    forget_clients()


def _setup(engine: Engine, settings: Settings, session: Session) -> tuple[ConversationManager, int, int]:
    manager = ConversationManager(engine=engine, settings=settings)
    uid = _user(session, "alice")
    return manager, uid, _knowledge(session, manager, uid, ("handbook.md", HANDBOOK))


def _ask(manager: ConversationManager, uid: int, kb_id: int) -> tuple[Hit, ...]:
    options = TurnOptions(provider="openai", model=MODEL, max_tokens=64, knowledge_bases=(kb_id,))
    turn = manager.send(user_id=uid, conversation_id=None, text=QUESTION, options=options)
    "".join(turn.deltas())
    turn.close()
    return turn.setup.sources


def _reranks(engine: Engine) -> list[UsageEvent]:
    with Session(engine) as s:
        return list(s.exec(select(UsageEvent).where(UsageEvent.kind == UsageKind.rerank)
                           .order_by(col(UsageEvent.id))).all())


def test_the_models_order_decides_which_passages_the_turn_keeps(engine, settings, server, session) -> None:
    manager, uid, kb_id = _setup(engine, settings, session)
    retrieved = manager.knowledge.search(user_id=uid, kb_ids=[kb_id], query=QUESTION, k=5).hits
    assert [h.section for h in retrieved] == ["Refresh", "Theft"]
    server.enqueue("openai", Reply(chunks=["2, 1"], tokens_in=90, tokens_out=3), Reply(chunks=["Fine [1]."]))
    sources = _ask(manager, uid, kb_id)
    assert [h.section for h in sources] == ["Theft"]  # the model put it first; top_k = 1 of its order
    ranked, _ = server.calls("/chat/completions")
    system, user = ranked.body["messages"]
    assert "numbers of the passages" in system["content"] and user["content"].startswith(f"Question: {QUESTION}")
    assert "[1] handbook.md › Refresh" in user["content"] and "[2] handbook.md › Theft" in user["content"]
    (event,) = _reranks(engine)
    assert (event.status, event.tokens_in, event.tokens_out, event.user_id) == (UsageStatus.complete, 90, 3, uid)
    assert event.cost_usd == pytest.approx((90 * 1.0 + 3 * 2.0) / 1e6)


def test_a_failed_reranking_keeps_the_retrievals_order_and_off_asks_nothing(engine, settings, server,
                                                                            session) -> None:
    manager, uid, kb_id = _setup(engine, settings, session)
    server.enqueue("openai", Reply(status=500), Reply(chunks=["Every three years [1]."]))
    assert [h.section for h in _ask(manager, uid, kb_id)] == ["Refresh"]
    assert [e.status for e in _reranks(engine)] == [UsageStatus.error]
    off = settings.model_copy(update={"knowledge": get_settings().knowledge})  # the defaults: off
    assert off.knowledge.rerank is False
    manager = ConversationManager(engine=engine, settings=off)
    server.enqueue("openai", Reply(chunks=["Every three years [1]."]))
    _ask(manager, uid, kb_id)
    assert len(server.calls("/chat/completions")) == 3 and len(_reranks(engine)) == 1
    local = LocalProvider(settings.providers["local"], Credentials(api_key=None, source="none"))
    assert manager.search.reranker.active(local) is False
    assert ConversationManager(engine=engine, settings=settings).search.reranker.active(local) is False


def test_an_answer_is_read_as_an_order_of_the_given_numbers() -> None:
    hits = [Hit(n, 1, 1, "d", f"t{n}", None, f"s{n}", 0, 1, 0.5) for n in range(1, 5)]
    assert [h.chunk_id for h in reordered(hits, "3, 1")] == [3, 1, 2, 4]  # the ones not named after, as they were
    assert [h.chunk_id for h in reordered(hits, "[4] then [4], 9, 0")] == [4, 1, 2, 3]  # repeats and made-up ignored
    assert [h.chunk_id for h in reordered(hits, "none of them")] == [1, 2, 3, 4]
