"""Settings → Appearance (language, theme) and Chat defaults (model, system prompt, named presets)."""

from __future__ import annotations

import streamlit as st

from core.config import get_settings
from core.i18n import LANGUAGES, THEMES
from core.models import PreferencesPublic, PromptPresetPublic, UserPublic
from core.preferences import delete_preset, get_preferences, list_presets, save_preset, set_appearance, set_preferences
from core.ui import i18n, state
from core.ui.forms import run_action
from core.ui.i18n import labels, t

PORTAL_DEFAULT = ""


def defaults_form(user: UserPublic) -> None:
    prefs = run_action(lambda s: get_preferences(session=s, user_id=user.id)) or PreferencesPublic()
    choices = [PORTAL_DEFAULT] + [f"{p}/{m}" for p, c in get_settings().providers.items() for m in c.models]
    current = f"{prefs.default_provider}/{prefs.default_model}" if prefs.default_model else PORTAL_DEFAULT
    with st.form("prefs_form"):
        model = st.selectbox(t("prefs.default_model"), choices, key="prefs_model",
                             index=choices.index(current) if current in choices else 0,
                             format_func=labels({"": t("prefs.portal_default")}))
        prompt = st.text_area(t("prefs.default_prompt"), value=prefs.default_system_prompt, max_chars=8000,
                              key="prefs_prompt", height=100)
        if not st.form_submit_button(t("prefs.save"), key="prefs_save"):
            return
    provider, _, name = ("", "", "") if model == PORTAL_DEFAULT else model.partition("/")
    saved = run_action(lambda s: set_preferences(session=s, user_id=user.id, prefs=PreferencesPublic(
        default_provider=provider, default_model=name, default_system_prompt=prompt)), t("prefs.saved"))
    if saved is not None:
        st.rerun()


def presets_editor(user: UserPublic) -> None:
    st.subheader(t("presets.title"))
    st.caption(t("presets.hint"))
    for preset in run_action(lambda s: list_presets(session=s, user_id=user.id)) or []:
        _preset_form(user, preset)
    with st.form("preset_new", clear_on_submit=True):
        name = st.text_input(t("presets.new_name"), max_chars=60, key="preset_new_name")
        content = st.text_area(t("presets.prompt"), max_chars=8000, key="preset_new_text")
        if st.form_submit_button(t("presets.add"), key="preset_add"):
            _done(lambda s: save_preset(session=s, user_id=user.id, name=name, content=content), t("presets.added"))


def _preset_form(user: UserPublic, preset: PromptPresetPublic) -> None:
    with st.expander(preset.name), st.form(f"preset_form_{preset.id}"):
        name = st.text_input(t("fields.name"), value=preset.name, max_chars=60, key=f"preset_name_{preset.id}")
        content = st.text_area(t("presets.prompt"), value=preset.content, max_chars=8000,
                               key=f"preset_text_{preset.id}")
        cols = st.columns([1, 1, 4])
        if cols[0].form_submit_button(t("common.save")):
            _done(lambda s: save_preset(session=s, user_id=user.id, name=name, content=content,
                                        preset_id=preset.id), t("presets.saved"))
        if cols[1].form_submit_button(t("common.delete")):
            _done(lambda s: delete_preset(session=s, user_id=user.id, preset_id=preset.id) or True,
                  t("presets.deleted"))


def _done(action, message: str) -> None:  # type: ignore[no-untyped-def]
    if run_action(action, message) is not None:
        st.rerun()


def appearance_form(user: UserPublic) -> None:
    """Language of every page and light/dark theme, stored with the user and applied at once."""
    prefs = run_action(lambda s: get_preferences(session=s, user_id=user.id)) or PreferencesPublic()
    languages = ["", *LANGUAGES]
    with st.form("appearance_form"):
        language = st.selectbox(t("settings.language"), languages, key="prefs_language",
                                index=languages.index(prefs.language) if prefs.language in languages else 0,
                                format_func=labels({"": t("settings.language_browser"), **LANGUAGES}))
        theme = st.radio(t("settings.theme"), THEMES, index=THEMES.index(prefs.theme), horizontal=True,
                         key="prefs_theme", format_func=labels({n: t(f"settings.theme_{n}") for n in THEMES}))
        if not st.form_submit_button(t("common.save"), key="appearance_save"):
            return
    saved = run_action(lambda s: set_appearance(session=s, user_id=user.id, language=language, theme=theme))
    if saved is not None:
        i18n.remember(user.id, saved.language, saved.theme)
        st.session_state[state.FLASH] = t("settings.appearance_saved")  # in the new language
        st.rerun()
