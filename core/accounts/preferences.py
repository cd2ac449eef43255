"""A user's chat defaults (model, system prompt) and named system-prompt presets."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.config import Settings, get_settings
from core.errors import ConflictError, NotFound, ValidationError
from core.i18n import LANGUAGES, THEMES, Msg
from core.model_catalog import offered
from core.models import PreferencesPublic, PromptPreset, PromptPresetPublic, Theme, UserPreference, utcnow
from core.validation import sanitize

PROMPT_MAX = 8000
NAME_MAX = 60


def _prompt(text: str) -> str:
    text = sanitize(text or "", max_chars=PROMPT_MAX)  # the text rule (core.validation)
    if len(text) > PROMPT_MAX:
        raise ValidationError(Msg("prefs.prompt_too_long", max=PROMPT_MAX))
    return text


def get_preferences(*, session: Session, user_id: int) -> PreferencesPublic:
    pref = session.get(UserPreference, user_id)
    return PreferencesPublic.model_validate(pref) if pref else PreferencesPublic()


def set_preferences(*, session: Session, user_id: int, prefs: PreferencesPublic,
                    settings: Settings | None = None) -> PreferencesPublic:
    """Save the defaults; the model must be one of the catalog's (empty: the portal's default)."""
    settings = settings or get_settings()
    if prefs.default_provider or prefs.default_model:
        catalog = offered(settings, session.get_bind()).providers.get(prefs.default_provider)  # enabled models
        if catalog is None or prefs.default_model not in catalog.models:
            raise ValidationError(Msg("prefs.pick_model"))
    pref = session.get(UserPreference, user_id) or UserPreference(user_id=user_id)
    pref.default_provider, pref.default_model = prefs.default_provider, prefs.default_model
    pref.default_system_prompt, pref.updated_at = _prompt(prefs.default_system_prompt), utcnow()
    session.add(pref)
    session.commit()
    return PreferencesPublic.model_validate(pref)


def set_appearance(*, session: Session, user_id: int, language: str, theme: str) -> PreferencesPublic:
    """Save the UI language ("" follows the browser) and theme (system, light, dark)."""
    if language and language not in LANGUAGES:
        raise ValidationError(Msg("prefs.unknown_language"))
    if theme not in THEMES:
        raise ValidationError(Msg("prefs.unknown_theme"))
    pref = session.get(UserPreference, user_id) or UserPreference(user_id=user_id)
    pref.language, pref.theme, pref.updated_at = language, Theme(theme), utcnow()
    session.add(pref)
    session.commit()
    return PreferencesPublic.model_validate(pref)


def list_presets(*, session: Session, user_id: int) -> list[PromptPresetPublic]:
    rows = session.exec(select(PromptPreset).where(PromptPreset.user_id == user_id)
                        .order_by(col(PromptPreset.name))).all()
    return [PromptPresetPublic.model_validate(p) for p in rows]


def save_preset(*, session: Session, user_id: int, name: str, content: str,
                preset_id: int | None = None) -> PromptPresetPublic:
    """Create a preset, or change one of the user's own (preset_id)."""
    name = sanitize(name or "", max_chars=NAME_MAX, one_line=True)
    if not name or len(name) > NAME_MAX:
        raise ValidationError(Msg("presets.name_length", max=NAME_MAX))
    content = _prompt(content)
    if not content:
        raise ValidationError(Msg("presets.empty"))
    if preset_id is None:
        preset = PromptPreset(user_id=user_id, name=name, content=content)
    else:
        found = session.get(PromptPreset, preset_id)
        if found is None or found.user_id != user_id:
            raise NotFound(Msg("presets.not_found"))
        preset = found
        preset.name, preset.content, preset.updated_at = name, content, utcnow()
    session.add(preset)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ConflictError(Msg("presets.duplicate", name=name)) from None
    return PromptPresetPublic.model_validate(preset)


def delete_preset(*, session: Session, user_id: int, preset_id: int) -> bool:
    preset = session.get(PromptPreset, preset_id)
    if preset is None or preset.user_id != user_id:
        return False
    session.delete(preset)
    session.commit()
    return True
