"""Issue #25, cause 3: the bundled embedder favours the question's language, so a Korean question ranked a Korean
passage above the English one that answers it. Now each document's language is detected at upload, and a question in
another language is also searched in the documents' language, translated by the conversation's model (the real
openai SDK against the wire-protocol server): metered and held like any call, off by a setting, never asked of the
bundled model, and a failed translation leaves the question as it is."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.chat import ConversationManager, TurnOptions
from core.chat.sources import sources_of
from core.config import ChatSettings, LimitDefaults, ModelInfo, ProviderCatalog, Settings, get_settings
from core.db import get_engine
from core.errors import RateLimited
from core.keys import save_user_key
from core.knowledge import create_knowledge_base, forget_clients
from core.knowledge.languages import detect
from core.models import Conversation, KbDocument, UsageEvent, UsageKind, UsageSource, UsageStatus
from core.providers.base import ChatMessage, Credentials
from core.providers.local import LocalProvider
from tests.conftest import add_user
from tests.fakes.provider_server import FakeProviderServer, Reply

HANDBOOK = b"""# Theft
Report a stolen laptop to the IT service desk within 24 hours, and file a police report.
# Refresh
Developers receive a new laptop every three years; everyone else every four years.
"""
REMOTE = """# 신청
재택근무는 일주일에 두 번까지 신청할 수 있으며 팀장이 승인합니다.
# 장비
회사는 모니터 한 대와 의자 구입비 20만 원을 지원합니다. 노트북은 사무실에서 받습니다.
""".encode()
QUESTION = "노트북을 도난당하면 언제까지 신고해야 하나요?"
TRANSLATED = "If my laptop is stolen, by when must I report it?"
MODEL = "gpt-test"


def priced_openai(server: FakeProviderServer) -> Settings:
    """The app's settings with one priced OpenAI model served by the wire-protocol server."""
    base = get_settings()
    return base.model_copy(update={
        "chat": ChatSettings(fallback=["openai"]),
        "providers": {**base.providers, "openai": ProviderCatalog(
            models={MODEL: ModelInfo(context_window=8000, price_in=1.0, price_out=2.0)}, base_url=server.openai_url,
            max_retries=0)},
    })


@pytest.fixture
def settings(engine: Engine, server: FakeProviderServer) -> Iterator[Settings]:
    forget_clients()
    yield priced_openai(server)
    forget_clients()


def _manager(engine: Engine, settings: Settings) -> ConversationManager:
    return ConversationManager(engine=engine, settings=settings)


def _user(session: Session, name: str) -> int:
    uid = add_user(session, name)
    save_user_key(session=session, user_id=uid, provider="openai", api_key="sk-good-key")
    return uid


def _knowledge(session: Session, manager: ConversationManager, user_id: int, *documents: tuple[str, bytes]) -> int:
    kb_id = create_knowledge_base(session=session, user_id=user_id, name="Policies").id or 0
    session.commit()
    for name, raw in documents:
        manager.knowledge.upload(user_id=user_id, kb_id=kb_id, name=name, raw=raw)
    manager.knowledge.wait()
    return kb_id


def _options(kb_id: int) -> TurnOptions:
    return TurnOptions(provider="openai", model=MODEL, max_tokens=64, knowledge_bases=(kb_id,))


def _events(engine: Engine, kind: UsageKind) -> list[UsageEvent]:
    with Session(engine) as s:
        return list(s.exec(select(UsageEvent).where(UsageEvent.kind == kind).order_by(col(UsageEvent.id))).all())


def test_a_question_is_also_searched_in_its_documents_language(engine, settings, server, session) -> None:
    manager = _manager(engine, settings)
    alice = _user(session, "alice")
    kb_id = _knowledge(session, manager, alice, ("laptop-policy.md", HANDBOOK), ("재택근무.md", REMOTE))
    with Session(engine) as s:
        assert {d.name: d.language for d in s.exec(select(KbDocument)).all()} == {
            "laptop-policy.md": "en", "재택근무.md": "ko"}  # detected at upload
    # The cause: searched as asked, the Korean passage (about laptops too) outranks the English one that answers.
    plain = manager.knowledge.search(user_id=alice, kb_ids=[kb_id], query=QUESTION).hits
    assert (plain[0].document_name, plain[0].section) != ("laptop-policy.md", "Theft")

    server.enqueue("openai", Reply(chunks=[TRANSLATED], tokens_in=40, tokens_out=12),
                   Reply(chunks=["Within 24 hours [1]."]))
    turn = manager.send(user_id=alice, conversation_id=None, text=QUESTION, options=_options(kb_id))
    "".join(turn.deltas())
    outcome = turn.close()
    asked, answered = server.calls("/chat/completions")
    system, user = asked.body["messages"]
    assert "into English" in system["content"] and user == {"role": "user", "content": QUESTION}
    assert asked.body["model"] == MODEL and asked.body["temperature"] == 0.0
    assert "Report a stolen laptop" in answered.body["messages"][0]["content"]
    sources = sources_of(session, [outcome.message_id or 0])[outcome.message_id or 0]
    assert (sources[0].document_name, sources[0].section) == ("laptop-policy.md", "Theft")
    # Metered like the reply: recorded with the provider's usage, priced, on the same team and source.
    (translation,) = _events(engine, UsageKind.translation)
    (reply,) = _events(engine, UsageKind.chat)
    assert (translation.status, translation.tokens_in, translation.tokens_out) == (UsageStatus.complete, 40, 12)
    assert translation.cost_usd == pytest.approx((40 * 1.0 + 12 * 2.0) / 1e6)
    assert (translation.user_id, translation.source, translation.model) == (alice, UsageSource.ui, MODEL)
    assert translation.team_id == reply.team_id
    # Regenerated: the same question is not asked (nor paid) again, and finds the same passage.
    server.enqueue("openai", Reply(chunks=["Within a day [1]."]))
    again = manager.regenerate(user_id=alice, conversation_id=turn.conversation_id or 0, options=_options(kb_id))
    "".join(again.deltas())
    again.close()
    assert len(server.calls("/chat/completions")) == 3 and len(_events(engine, UsageKind.translation)) == 1
    assert (again.setup.sources[0].document_name, again.setup.sources[0].section) == ("laptop-policy.md", "Theft")


def test_nothing_is_asked_when_the_documents_share_the_questions_language_or_it_is_off(engine, settings, server,
                                                                                        session) -> None:
    alice = _user(session, "alice")
    manager = _manager(engine, settings)
    korean = _knowledge(session, manager, alice, ("재택근무.md", REMOTE))
    server.enqueue("openai", Reply(chunks=["Two days [1]."]))
    turn = manager.send(user_id=alice, conversation_id=None, text=QUESTION, options=_options(korean))
    "".join(turn.deltas())
    turn.close()
    assert len(server.calls("/chat/completions")) == 1  # the reply only
    off = settings.model_copy(update={"knowledge": settings.knowledge.model_copy(update={"translate_queries": False})})
    manager = _manager(engine, off)
    mixed = _knowledge(session, manager, alice, ("laptop-policy.md", HANDBOOK), ("재택근무.md", REMOTE))
    server.enqueue("openai", Reply(chunks=["Within 24 hours."]))
    turn = manager.send(user_id=alice, conversation_id=None, text=QUESTION, options=_options(mixed))
    "".join(turn.deltas())
    turn.close()
    assert len(server.calls("/chat/completions")) == 2 and _events(engine, UsageKind.translation) == []


def test_the_bundled_model_is_never_asked(settings) -> None:
    local = LocalProvider(settings.providers["local"], Credentials(api_key=None, source="none"))
    translator = _manager(get_engine(settings), settings).search.translator
    assert translator.wanted(QUESTION, {"en", "ko"}, local) == []  # searched as asked: it cannot translate


def test_a_failed_translation_leaves_the_question_as_it_is(engine, settings, server, session) -> None:
    manager = _manager(engine, settings)
    alice = _user(session, "alice")
    kb_id = _knowledge(session, manager, alice, ("laptop-policy.md", HANDBOOK), ("재택근무.md", REMOTE))
    server.enqueue("openai", Reply(status=500), Reply(chunks=["I am not sure."]))
    turn = manager.send(user_id=alice, conversation_id=None, text=QUESTION, options=_options(kb_id))
    assert "".join(turn.deltas()) == "I am not sure."
    outcome = turn.close()
    assert outcome.message_id is not None and turn.setup.sources  # answered from the question as it was asked
    (failed,) = _events(engine, UsageKind.translation)
    assert failed.status == UsageStatus.error and failed.tokens_in == 0 and failed.cost_usd == 0


def test_a_translation_over_the_budget_is_refused_and_recorded_and_the_turn_with_it(engine, settings, server,
                                                                                   session) -> None:
    tight = settings.model_copy(update={"limits": settings.limits.model_copy(update={"user": LimitDefaults(
        requests_per_minute=0, requests_per_day=0, tokens_per_day=20, budget_usd_per_month=0)})})
    manager = _manager(engine, tight)
    alice = _user(session, "alice")
    kb_id = _knowledge(session, manager, alice, ("laptop-policy.md", HANDBOOK), ("재택근무.md", REMOTE))
    with pytest.raises(RateLimited):
        manager.send(user_id=alice, conversation_id=None, text=QUESTION, options=_options(kb_id))
    assert server.calls("/chat/completions") == []  # neither the translation nor the reply went out
    (refused,) = _events(engine, UsageKind.translation)
    assert refused.status == UsageStatus.refused and refused.error_kind == "rate_limited"
    with Session(engine) as s:
        assert s.exec(select(Conversation).where(Conversation.user_id == alice)).all() == []


def test_an_api_requests_translation_is_charged_as_the_request(engine, settings, server, session) -> None:
    manager = _manager(engine, settings)
    alice = _user(session, "alice")
    kb_id = _knowledge(session, manager, alice, ("laptop-policy.md", HANDBOOK), ("재택근무.md", REMOTE))
    server.enqueue("openai", Reply(chunks=[TRANSLATED]), Reply(chunks=["Within 24 hours [1]."]))
    turn = manager.ask(user_id=alice, conversation=[ChatMessage(role="user", content=QUESTION)],
                       options=_options(kb_id), token_name="ci-bot")
    "".join(turn.deltas())
    turn.close()
    (translation,) = _events(engine, UsageKind.translation)
    assert (translation.source, translation.token_name) == (UsageSource.api, "ci-bot")
    assert turn.setup.sources[0].document_name == "laptop-policy.md"


def test_languages_are_told_apart_by_script_and_common_words() -> None:
    assert detect(QUESTION) == "ko" and detect(TRANSLATED) == "en"
    assert detect("Die Regel gilt für alle Mitarbeiter und die Reisen") == "de"
    assert detect("東京の会社で働いています") == "ja"
    assert detect("我们公司的政策") == "zh"
    assert detect("ok") == "" and detect("1234 5678") == ""  # too little to tell: nothing is asked


def test_a_model_the_users_team_may_not_use_is_not_asked_to_translate(engine, settings, server, session) -> None:
    from core.accounts import add_member, create_team
    from core.errors import PermissionDenied
    from core.models import TeamCreate, User

    manager = _manager(engine, settings)
    alice = _user(session, "alice")
    kb_id = _knowledge(session, manager, alice, ("laptop-policy.md", HANDBOOK), ("재택근무.md", REMOTE))
    admin = session.exec(select(User.id).where(User.username == "admin")).one()
    team = create_team(session=session, actor_id=admin,
                       team_in=TeamCreate(name="Frugal", allowed_models=["openai/gpt-4o-mini"]))
    add_member(session=session, actor_id=admin, team_id=team.id or 0, user_id=alice)
    with pytest.raises(PermissionDenied, match="Frugal"):
        manager.send(user_id=alice, conversation_id=None, text=QUESTION, options=_options(kb_id))
    assert server.calls("/chat/completions") == [] and _events(engine, UsageKind.translation) == []


def test_the_hold_covers_any_question_and_a_long_one_is_searched_as_asked(engine, settings, monkeypatch) -> None:
    """Security review: the hold counted estimated tokens (~1 per 3 bytes), while a question of rare characters is
    billed up to a token per byte: now the bound every other call holds (prompt_bound). A question past
    MAX_QUESTION_CHARS is not translated (the embedder reads ~512 tokens of it; the cache keys a digest)."""
    from core.chat.translate import MAX_QUESTION_CHARS, Asked

    manager = _manager(engine, settings)
    translator = manager.search.translator
    held: list[int] = []

    def metered(provider, model, user_id, run, *, prompt_tokens, max_tokens, kind, charge=None):  # type: ignore[no-untyped-def]
        held.append(prompt_tokens)
        return "translated"

    monkeypatch.setattr(translator.meter, "metered", metered)
    rare = "뷁쀍똠 " * 300 + "신고해야 하나요?"  # three bytes a syllable, each possibly a token or more
    openai = manager.providers_for(1).choose("openai").provider
    assert translator.translations(rare, {"en"}, Asked(1, openai, MODEL)) == ["translated"]
    assert held[0] >= len(rare.encode())  # at least a token per byte of the question
    assert translator.wanted("가" * (MAX_QUESTION_CHARS + 1), {"en"}, openai) == []
