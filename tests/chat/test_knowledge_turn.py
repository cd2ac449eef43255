"""Answers from knowledge bases: numbered sources in the prompt, kept with the reply; a knowledge base the user may
not read is refused before anything is stored; a document still indexing is mentioned."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.chat import ConversationManager, TurnOptions
from core.chat.sources import sources_of
from core.config import ChatSettings, ModelInfo, ProviderCatalog, Settings, get_settings
from core.errors import NotFound
from core.keys import save_user_key
from core.knowledge import create_knowledge_base, forget_clients
from core.models import Conversation, KbDocument, Message, MessageRole
from tests.conftest import add_user
from tests.fakes.provider_server import FakeProviderServer, Reply

HANDBOOK = b"""# Backups
Parley writes a backup archive every night at 03:00 UTC and keeps seven daily archives.
# Coffee
The espresso machine is descaled every Monday.
"""


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    srv = FakeProviderServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def settings(engine: Engine, server: FakeProviderServer) -> Iterator[Settings]:
    forget_clients()
    base = get_settings()
    yield base.model_copy(update={
        "chat": ChatSettings(fallback=["openai"]),
        "providers": {**base.providers, "openai": ProviderCatalog(
            models={"gpt-test": ModelInfo(context_window=8000)}, base_url=server.openai_url, max_retries=0)},
    })
    forget_clients()


@pytest.fixture
def manager(engine: Engine, settings: Settings) -> ConversationManager:
    return ConversationManager(engine=engine, settings=settings)


def _user(session: Session, name: str) -> int:
    uid = add_user(session, name)
    save_user_key(session=session, user_id=uid, provider="openai", api_key="sk-good-key")
    return uid


def _handbook(session: Session, manager: ConversationManager, user_id: int) -> int:
    kb_id = create_knowledge_base(session=session, user_id=user_id, name="Handbook").id
    session.commit()
    manager.knowledge.upload(user_id=user_id, kb_id=kb_id, name="handbook.md", raw=HANDBOOK)
    manager.knowledge.wait()
    return kb_id


def test_the_answer_gets_numbered_sources_and_keeps_them(engine, manager, server, session) -> None:
    alice = _user(session, "alice")
    kb_id = _handbook(session, manager, alice)
    server.enqueue("openai", Reply(chunks=["Every night at 03:00 UTC [1]."]))
    options = TurnOptions(provider="openai", model="gpt-test", max_tokens=64, knowledge_bases=(kb_id,))
    turn = manager.send(user_id=alice, conversation_id=None, text="When are backups written?", options=options)
    "".join(turn.deltas())
    outcome = turn.close()
    system = server.calls("/chat/completions")[-1].body["messages"][0]
    assert system["role"] == "system" and "[1] handbook.md (Backups)" in system["content"]
    assert "03:00 UTC" in system["content"] and "cite them inline" in system["content"]
    sources = sources_of(session, [outcome.message_id or 0])[outcome.message_id or 0]
    assert sources[0].n == 1 and sources[0].document_name == "handbook.md" and sources[0].section == "Backups"
    assert "03:00 UTC" in sources[0].snippet


def test_another_users_knowledge_base_is_refused_before_anything_is_stored(engine, manager, server, session) -> None:
    alice, bob = _user(session, "alice"), _user(session, "bob")
    kb_id = _handbook(session, manager, alice)
    options = TurnOptions(provider="openai", model="gpt-test", max_tokens=64, knowledge_bases=(kb_id,))
    with pytest.raises(NotFound):
        manager.send(user_id=bob, conversation_id=None, text="When are backups written?", options=options)
    with Session(engine) as s:
        assert s.exec(select(Conversation).where(Conversation.user_id == bob)).all() == []
    assert server.calls("/chat/completions") == []


def test_a_document_still_indexing_is_mentioned(engine, manager, server, session) -> None:
    alice = _user(session, "alice")
    kb_id = _handbook(session, manager, alice)
    session.add(KbDocument(kb_id=kb_id, name="big-report.pdf", mime="application/pdf", sha256="0" * 64))
    session.commit()
    options = TurnOptions(provider="openai", model="gpt-test", max_tokens=64, knowledge_bases=(kb_id,))
    turn = manager.send(user_id=alice, conversation_id=None, text="When are backups written?", options=options)
    assert turn.setup.notice is not None and "big-report.pdf" in turn.setup.notice
    "".join(turn.deltas())
    turn.close()
    replies = session.exec(select(Message).where(Message.role == MessageRole.assistant)).all()
    assert len(replies) == 1
