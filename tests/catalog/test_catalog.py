"""The model catalog: config.yaml's models with admins' settings over them (audited, only what differs stored),
enabled and disabled models in every choice (picker, turns, teams, preferences), prices of disabled models kept,
and the per-process cache that honours core.changes' version."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from core import changes
from core.accounts import audit_log, catalog_models, create_team, set_preferences, update_team
from core.catalog import ModelSettings, catalog_table, reset_model, set_enabled, update_model
from core.chat import ConversationManager, ProviderChooser, TurnOptions
from core.config import get_settings
from core.errors import NotFound, PermissionDenied, ValidationError
from core.model_catalog import entries, forget_catalog, lookup, offered
from core.models import CatalogModel, Conversation, PreferencesPublic, TeamCreate, User
from core.usage import price_of
from tests.conftest import add_user


def _admin(session: Session) -> int:
    return session.exec(select(User.id).where(User.username == "admin")).one()


def _settings_of(session: Session, provider: str, model: str, **change: object) -> ModelSettings:
    """The model's settings as the form shows them now, with change over them."""
    rows = catalog_table(session=session, actor_id=_admin(session))
    row = next(r for r in rows if r.entry.id == f"{provider}/{model}")
    info = row.entry.info
    current = {name: getattr(info, name) for name in ("display_name", "description", "context_window", "max_output",
                                                       "vision", "tools", "json_mode", "default_temperature",
                                                       "default_max_tokens")}
    return ModelSettings(**{"enabled": row.entry.enabled, "position": row.entry.position, **current, **change})


def _picker(engine, user_id: int) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    chooser = ProviderChooser(user_id, settings=get_settings(), engine=engine)
    return {o.name: o.models for o in chooser.options()}


def test_admins_set_names_caps_defaults_and_order_over_config_yaml(engine, session: Session) -> None:
    admin, ann = _admin(session), add_user(session, "ann")
    settings = get_settings()
    assert [e.model for e in entries(settings, engine) if e.provider == "openai" and e.kind == "chat"] == \
        list(settings.providers["openai"].models)  # nothing set: config.yaml's catalog, in its order
    change = _settings_of(session, "openai", "gpt-4o", display_name="GPT-4o (team)", description="Best for code",
                          max_output=4096, default_temperature=0.2, position=0)
    with pytest.raises(PermissionDenied):
        update_model(session=session, actor_id=ann, provider="openai", model="gpt-4o", change=change)
    with pytest.raises(NotFound):
        update_model(session=session, actor_id=admin, provider="openai", model="gpt-9", change=change)
    with pytest.raises(ValidationError, match="context window"):
        update_model(session=session, actor_id=admin, provider="openai", model="gpt-4o",
                     change=change.model_copy(update={"max_output": 200_000}))
    update_model(session=session, actor_id=admin, provider="openai", model="gpt-4o", change=change)

    row = session.get(CatalogModel, ("openai", "gpt-4o"))
    assert row is not None and row.context_window is None  # config.yaml's value is not stored: its later edits apply
    info = offered(settings, engine).providers["openai"].models["gpt-4o"]
    assert (info.display_name, info.description, info.max_output, info.default_temperature) == \
        ("GPT-4o (team)", "Best for code", 4096, 0.2)
    assert _picker(engine, ann)["openai"][0] == "gpt-4o"  # position 0: first in the picker
    option = next(o for o in ProviderChooser(ann, settings=settings, engine=engine).options() if o.name == "openai")
    assert option.title("gpt-4o") == "GPT-4o (team)" and option.title("gpt-4o-mini") == "gpt-4o-mini"

    event = next(e for e in audit_log(session=session, actor_id=admin) if e.action == "catalog.update")
    assert event.target == "openai/gpt-4o" and "GPT-4o (team)" in event.detail and "context_window" not in event.detail
    assert reset_model(session=session, actor_id=admin, provider="openai", model="gpt-4o")
    assert session.get(CatalogModel, ("openai", "gpt-4o")) is None
    back = offered(settings, engine).providers["openai"].models["gpt-4o"]
    assert back == settings.providers["openai"].models["gpt-4o"]
    assert not reset_model(session=session, actor_id=admin, provider="openai", model="gpt-4o")
    assert [e.action for e in audit_log(session=session, actor_id=admin)][:2] == ["catalog.reset", "catalog.update"]


def test_a_disabled_model_leaves_every_choice_but_keeps_its_price(engine, session: Session, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-used")  # OpenAI can answer: the model is what is refused
    get_settings.cache_clear()
    admin, ann = _admin(session), add_user(session, "ann")
    team = create_team(session=session, actor_id=admin,
                       team_in=TeamCreate(name="Core", allowed_models=["openai/gpt-4o"]))
    set_enabled(session=session, actor_id=admin, provider="openai", model="gpt-4o", enabled=False)

    assert "gpt-4o" not in _picker(engine, ann)["openai"] and "openai/gpt-4o" not in catalog_models()
    manager = ConversationManager(engine=engine, settings=get_settings())
    with pytest.raises(ValidationError, match="gpt-4o"):
        manager.send(user_id=ann, conversation_id=None, text="hi",
                     options=TurnOptions(provider="openai", model="gpt-4o"))
    with pytest.raises(ValidationError):  # a new allow-list picks from the enabled models ...
        create_team(session=session, actor_id=admin, team_in=TeamCreate(name="Other", allowed_models=["openai/gpt-4o"]))
    update_team(session=session, actor_id=admin, team_id=team.id,  # ... one that held it may keep it
                team_in=TeamCreate(name="Core", allowed_models=["openai/gpt-4o", "openai/gpt-4o-mini"]))
    with pytest.raises(ValidationError):
        set_preferences(session=session, user_id=ann,
                        prefs=PreferencesPublic(default_provider="openai", default_model="gpt-4o"))
    price = price_of("openai", "gpt-4o")  # a call that started before it was disabled is charged as it was held
    assert price is not None and price.price_in == 2.50
    entry = lookup(get_settings(), engine, "openai", "gpt-4o")
    assert entry is not None and not entry.enabled

    set_enabled(session=session, actor_id=admin, provider="openai", model="gpt-4o", enabled=True)
    assert "gpt-4o" in _picker(engine, ann)["openai"]
    assert session.get(CatalogModel, ("openai", "gpt-4o")) is None  # enabled is config.yaml's value: nothing stored
    actions = [e.action for e in audit_log(session=session, actor_id=admin) if e.target == "openai/gpt-4o"]
    assert actions == ["catalog.enable", "catalog.disable"]


def test_a_reply_cap_refuses_more_and_the_picker_follows_at_once(engine, session: Session) -> None:
    admin, ann = _admin(session), add_user(session, "ann")
    update_model(session=session, actor_id=admin, provider="local", model="smollm2-135m-instruct",
                 change=_settings_of(session, "local", "smollm2-135m-instruct", max_output=64))
    manager = ConversationManager(engine=engine, settings=get_settings())
    with pytest.raises(ValidationError, match="64"):
        manager.send(user_id=ann, conversation_id=None, text="hi",
                     options=TurnOptions(provider="local", model="smollm2-135m-instruct", max_tokens=100))
    assert session.exec(select(Conversation)).all() == []  # nothing half-way: the refusal stored no conversation


def test_the_cache_follows_the_version_a_caller_read(engine, session: Session) -> None:
    settings = get_settings()
    forget_catalog()
    before = changes.current(engine)
    assert "gpt-4o" in offered(settings, engine, before).providers["openai"].models
    session.add(CatalogModel(provider="openai", model="gpt-4o", kind="chat", enabled=False))  # another instance
    session.commit()
    after = changes.current(engine)
    assert after != before  # a catalog row is part of what request caches are made of
    assert "gpt-4o" in offered(settings, engine).providers["openai"].models  # no version: a read of seconds ago
    assert "gpt-4o" not in offered(settings, engine, after).providers["openai"].models  # newer version: read again


def test_a_fallback_never_goes_to_a_model_whose_cap_is_below_the_reply_asked(engine, session: Session) -> None:
    from core.chat.choice import fallback_chain

    update_model(session=session, actor_id=_admin(session), provider="local", model="smollm2-135m-instruct",
                 change=_settings_of(session, "local", "smollm2-135m-instruct", max_output=64))
    chooser = ProviderChooser(add_user(session, "ann"), settings=get_settings(), engine=engine)
    chain = fallback_chain(chooser, "openai", "gpt-4o", ["local"], None, frozenset(), 100)
    assert [(p.name, m) for p, m in chain] == [("openai", "gpt-4o")]
    chain = fallback_chain(chooser, "openai", "gpt-4o", ["local"], None, frozenset(), 64)
    assert [(p.name, m) for p, m in chain] == [("openai", "gpt-4o"), ("local", "smollm2-135m-instruct")]
