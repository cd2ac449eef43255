"""Chat defaults and prompt presets: validation, ownership, and their use on the Chat page."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from core.accounts import delete_preset, get_preferences, list_presets, save_preset, set_preferences
from core.config import PROJECT_ROOT
from core.db import get_engine
from core.errors import ConflictError, NotFound, ValidationError
from core.models import PreferencesPublic, User, utcnow
from tests.conftest import add_user


@pytest.fixture
def ids(engine, session: Session) -> dict[str, int]:
    admin = session.exec(select(User.id).where(User.username == "admin")).one()
    return {"admin": admin, "bob": add_user(session, "bob")}


def test_defaults_roundtrip_and_validation(ids, session) -> None:
    assert get_preferences(session=session, user_id=ids["bob"]) == PreferencesPublic()
    saved = set_preferences(session=session, user_id=ids["bob"], prefs=PreferencesPublic(
        default_provider="openai", default_model="gpt-4o-mini", default_system_prompt="  Answer in Korean. "))
    assert (saved.default_model, saved.default_system_prompt) == ("gpt-4o-mini", "Answer in Korean.")
    with pytest.raises(ValidationError, match="Pick a model"):
        set_preferences(session=session, user_id=ids["bob"], prefs=PreferencesPublic(
            default_provider="openai", default_model="no-such-model"))
    with pytest.raises(ValidationError, match="8,000"):
        set_preferences(session=session, user_id=ids["bob"], prefs=PreferencesPublic(default_system_prompt="x" * 8001))


def test_presets_create_edit_delete_and_ownership(ids, session) -> None:
    first = save_preset(session=session, user_id=ids["bob"], name="Translator", content="Translate to English.")
    save_preset(session=session, user_id=ids["bob"], name="Reviewer", content="Review code strictly.")
    with pytest.raises(ConflictError):
        save_preset(session=session, user_id=ids["bob"], name="Translator", content="again")
    edited = save_preset(session=session, user_id=ids["bob"], name="번역가", content="Translate to Korean.",
                         preset_id=first.id)
    assert [p.name for p in list_presets(session=session, user_id=ids["bob"])] == ["Reviewer", "번역가"]
    assert edited.content == "Translate to Korean."
    with pytest.raises(NotFound):
        save_preset(session=session, user_id=ids["admin"], name="mine", content="x", preset_id=first.id)
    assert not delete_preset(session=session, user_id=ids["admin"], preset_id=first.id)
    assert list_presets(session=session, user_id=ids["admin"]) == []
    assert delete_preset(session=session, user_id=ids["bob"], preset_id=first.id)
    with pytest.raises(ValidationError):
        save_preset(session=session, user_id=ids["bob"], name="", content="x")


def test_chat_starts_from_the_users_defaults_and_applies_a_preset(sqlite_app: Path) -> None:
    with Session(get_engine()) as session:
        admin = session.exec(select(User.id).where(User.username == "admin")).one()
        set_preferences(session=session, user_id=admin, prefs=PreferencesPublic(
            default_provider="local", default_model="smollm2-135m-instruct", default_system_prompt="Be terse."))
        save_preset(session=session, user_id=admin, name="Pirate", content="Talk like a pirate.")
    at = AppTest.from_file(str(PROJECT_ROOT / "pages/chat.py"), default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "admin"
    at.session_state["parley_login_at"] = utcnow()
    at.run()
    assert not at.exception
    assert at.session_state["chat_model"] == "local/smollm2-135m-instruct"
    assert at.text_area(key="chat_system_prompt").value == "Be terse."
    at.selectbox(key="chat_preset").select("Pirate").run()
    assert at.text_area(key="chat_system_prompt").value == "Talk like a pirate."
