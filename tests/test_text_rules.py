"""The text rule (core.validation) over every core function that takes user text or files, with arbitrary Unicode
(surrogates, NUL, bidi marks, combining sequences, long strings) and arbitrary JSON: each outcome is a stored
value that reads back equal to the rule applied to the input, or an AppError with a message; a refused call
leaves the database unchanged. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from core.accounts import save_preset, set_preferences, update_profile
from core.chat import ConversationManager, TurnOptions
from core.errors import AppError
from core.history import import_conversations, rename, search
from core.models import (
    AuditEvent,
    Conversation,
    Message,
    PreferencesPublic,
    PromptPreset,
    User,
    UserPreference,
    UserUpdate,
)
from core.validation import sanitize
from tests.conftest import add_user

NASTY = st.sampled_from(["\x00", "\ud800", "\udfff", "\u202e", "\u2066", "\u200b", "\ufeff", "\r\n", "\r", "\t",
                         "e\u0301", "\u1100\u1161", "\U0001f469\u200d\U0001f4bb", "\u0000\u0000", " ", "\n"])
TEXT = st.lists(st.one_of(st.text(max_size=30), NASTY), max_size=12).map("".join)
RUNS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TABLES = (Conversation, Message, PromptPreset, UserPreference, AuditEvent, User)


def _counts(session: Session) -> tuple[int, ...]:
    session.expire_all()
    return tuple(session.exec(select(func.count()).select_from(t)).one() for t in TABLES)


def _refused_cleanly(session: Session, before: tuple[int, ...], exc: AppError) -> None:
    session.rollback()
    assert str(exc.user_message) and _counts(session) == before


def test_the_rule_itself() -> None:
    assert sanitize("a\x00b\u202ec\r\nd\ud800", max_chars=100) == "abc\nd\ufffd"
    assert sanitize("e\u0301", max_chars=10) == "\u00e9"  # NFC
    assert sanitize("  a \t\n b  ", max_chars=10, one_line=True) == "a b"
    assert sanitize("\U0001f469\u200d\U0001f4bb", max_chars=10) == "\U0001f469\u200d\U0001f4bb"  # ZWJ kept
    with pytest.raises(AppError):
        sanitize("x" * 10_000, max_chars=100)  # refused before any work


@pytest.fixture
def user(engine, session: Session) -> int:
    return add_user(session, "fuzz")


@RUNS
@given(text=TEXT)
def test_chat_messages(session: Session, user: int, text: str) -> None:
    before = _counts(session)
    try:
        turn = ConversationManager().send(user_id=user, conversation_id=None, text=text,
                                          options=TurnOptions(provider="local", model="smollm2-135m-instruct"))
    except AppError as exc:
        _refused_cleanly(session, before, exc)
        return
    turn.close()  # stopped before the model is asked: the user's message is what this checks
    stored = session.exec(select(Message).where(Message.role == "user").order_by(Message.id.desc())).first()  # type: ignore[union-attr]
    assert stored is not None and stored.content == sanitize(text, max_chars=16_000)


@RUNS
@given(title=TEXT)
def test_titles(session: Session, user: int, title: str) -> None:
    conv = Conversation(user_id=user, provider="local", model="smollm2-135m-instruct")
    session.add(conv)
    session.commit()
    before = _counts(session)
    try:
        rename(session=session, user_id=user, conversation_id=conv.id or 0, title=title)
    except AppError as exc:
        _refused_cleanly(session, before, exc)
        return
    session.expire_all()
    assert session.get(Conversation, conv.id).title == sanitize(title, max_chars=200, one_line=True)  # type: ignore[union-attr]


@RUNS
@given(query=TEXT)
def test_search_terms(session: Session, user: int, query: str) -> None:
    before = _counts(session)
    try:
        search(session=session, user_id=user, query=query)
    except AppError as exc:
        _refused_cleanly(session, before, exc)
    assert _counts(session) == before


@RUNS
@given(name=TEXT, body=TEXT)
def test_presets_and_system_prompts(session: Session, user: int, name: str, body: str) -> None:
    before = _counts(session)
    try:
        saved = save_preset(session=session, user_id=user, name=name, content=body)
    except AppError as exc:
        _refused_cleanly(session, before, exc)
    else:
        assert (saved.name, saved.content) == (sanitize(name, max_chars=60, one_line=True),
                                               sanitize(body, max_chars=8000))
    before = _counts(session)
    try:
        prefs = set_preferences(session=session, user_id=user, prefs=PreferencesPublic(default_system_prompt=body))
    except AppError as exc:
        _refused_cleanly(session, before, exc)
    else:
        assert prefs.default_system_prompt == sanitize(body, max_chars=8000)


@RUNS
@given(name=TEXT)
def test_display_names(session: Session, user: int, name: str) -> None:
    before = _counts(session)
    try:
        updated = update_profile(session=session, user_id=user, user_in=UserUpdate(display_name=name))
    except AppError as exc:
        _refused_cleanly(session, before, exc)
        return
    assert updated.display_name == unicodedata.normalize("NFC", name.strip())  # names refuse what they would lose


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                    max_leaves=15)
EXPORT = st.fixed_dictionaries({"schema": st.just("parley.export"), "version": st.just(1),
                                "conversations": st.lists(st.fixed_dictionaries(
                                    {"title": TEXT, "messages": st.lists(st.fixed_dictionaries(
                                        {"role": st.sampled_from(["user", "assistant", "robot"]), "content": TEXT}),
                                        max_size=3)},
                                    optional={"params": JSON, "system_prompt": TEXT, "model": TEXT}), max_size=3)})
NODE = st.fixed_dictionaries({}, optional={"parent": st.sampled_from(["a", "b", "c", None]), "message": JSON})
GPT_CONVERSATION = st.fixed_dictionaries(
    {"mapping": st.dictionaries(st.sampled_from(["a", "b", "c"]), NODE, max_size=3)},
    optional={"current_node": st.sampled_from(["a", "b", "c"]), "title": JSON, "create_time": JSON})
CHATGPT = st.lists(GPT_CONVERSATION, max_size=3)


@RUNS
@given(document=st.one_of(JSON, EXPORT, CHATGPT))
def test_imports_of_arbitrary_json(session: Session, user: int, document: Any) -> None:
    before = _counts(session)
    try:
        raw = json.dumps(document).encode("utf-8", "surrogatepass")
        count = import_conversations(session=session, user_id=user, raw=raw, max_bytes=1_000_000)
    except AppError as exc:
        _refused_cleanly(session, before, exc)
        return
    session.expire_all()
    titles = [c.title for c in session.exec(select(Conversation).where(Conversation.user_id == user)).all()]
    assert len(titles) >= count
    for c in session.exec(select(Message)).all():
        assert c.content == sanitize(c.content, max_chars=1_000_000)  # what was stored obeys the rule
