"""Provider choice: the picker's options with reasons, keys from the user, the organisation or the environment."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from core.chat import ConversationManager, ProviderChooser
from core.config import get_settings
from core.db import get_engine
from core.errors import ValidationError
from core.keys import save_user_key
from tests.conftest import add_user


def _chooser(user_id: int) -> ProviderChooser:
    return ProviderChooser(user_id, settings=get_settings(), engine=get_engine())


def test_picker_offers_local_always_and_says_why_others_cannot_answer(engine, session: Session) -> None:
    options = {o.name: o for o in _chooser(add_user(session, "bob")).options()}
    assert options["local"].unavailable is None and options["local"].models
    assert "no API key" in (options["openai"].unavailable or "")
    assert "OPENAI_API_KEY" in (options["openai"].unavailable or "")
    assert options["compatible"].unavailable


def test_picker_says_why_then_offers_once_the_user_has_a_key(engine, session: Session) -> None:
    bob = add_user(session, "bob")
    assert "no API key" in (_chooser(bob).choose("anthropic").unavailable_reason or "")
    save_user_key(session=session, user_id=bob, provider="anthropic", api_key="sk-ant-PLAINTEXT9876wxyz")
    choice = _chooser(bob).choose("anthropic")  # a new page run, a new chooser
    assert choice.unavailable_reason is None
    assert choice.provider.credentials.source == "user"


def test_organisation_key_from_the_environment(engine, session: Session, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-org-key-from-env")
    get_settings.cache_clear()
    choice = _chooser(add_user(session, "carol")).choose("openai")
    assert choice.unavailable_reason is None
    assert (choice.provider.credentials.api_key, choice.provider.credentials.source) == ("sk-org-key-from-env", "org")


def test_a_chooser_remembers_its_choices(engine, session: Session) -> None:
    chooser = _chooser(add_user(session, "dan"))
    assert chooser.choose("openai") is chooser.choose("openai")


def test_unknown_provider_is_refused_clearly(engine, session: Session) -> None:
    manager = ConversationManager()
    with pytest.raises(ValidationError, match="Unknown provider"):
        manager.providers_for(add_user(session, "erin")).choose("nope")
