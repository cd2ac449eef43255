"""Settings → Chat defaults: default model and system prompt, and named system-prompt presets."""

from __future__ import annotations

import streamlit as st

from core.config import get_settings
from core.models import PreferencesPublic, PromptPresetPublic, UserPublic
from core.preferences import delete_preset, get_preferences, list_presets, save_preset, set_preferences
from core.ui.forms import run_action

PORTAL_DEFAULT = "(portal default)"


def defaults_form(user: UserPublic) -> None:
    prefs = run_action(lambda s: get_preferences(session=s, user_id=user.id)) or PreferencesPublic()
    choices = [PORTAL_DEFAULT] + [f"{p}/{m}" for p, c in get_settings().providers.items() for m in c.models]
    current = f"{prefs.default_provider}/{prefs.default_model}" if prefs.default_model else PORTAL_DEFAULT
    with st.form("prefs_form"):
        model = st.selectbox("Default model for new conversations", choices, key="prefs_model",
                             index=choices.index(current) if current in choices else 0)
        prompt = st.text_area("Default system prompt", value=prefs.default_system_prompt, max_chars=8000,
                              key="prefs_prompt", height=100)
        if not st.form_submit_button("Save defaults", key="prefs_save"):
            return
    provider, _, name = ("", "", "") if model == PORTAL_DEFAULT else model.partition("/")
    saved = run_action(lambda s: set_preferences(session=s, user_id=user.id, prefs=PreferencesPublic(
        default_provider=provider, default_model=name, default_system_prompt=prompt)), "Defaults saved.")
    if saved is not None:
        st.rerun()


def presets_editor(user: UserPublic) -> None:
    st.subheader("System prompt presets")
    st.caption("Pick one in Chat → Model and parameters → Preset.")
    for preset in run_action(lambda s: list_presets(session=s, user_id=user.id)) or []:
        _preset_form(user, preset)
    with st.form("preset_new", clear_on_submit=True):
        name = st.text_input("New preset name", max_chars=60, key="preset_new_name")
        content = st.text_area("Prompt", max_chars=8000, key="preset_new_text")
        if st.form_submit_button("Add preset"):
            _done(lambda s: save_preset(session=s, user_id=user.id, name=name, content=content), "Preset added.")


def _preset_form(user: UserPublic, preset: PromptPresetPublic) -> None:
    with st.expander(preset.name), st.form(f"preset_form_{preset.id}"):
        name = st.text_input("Name", value=preset.name, max_chars=60, key=f"preset_name_{preset.id}")
        content = st.text_area("Prompt", value=preset.content, max_chars=8000, key=f"preset_text_{preset.id}")
        cols = st.columns([1, 1, 4])
        if cols[0].form_submit_button("Save"):
            _done(lambda s: save_preset(session=s, user_id=user.id, name=name, content=content,
                                        preset_id=preset.id), "Preset saved.")
        if cols[1].form_submit_button("Delete"):
            _done(lambda s: delete_preset(session=s, user_id=user.id, preset_id=preset.id) or True,
                  "Preset deleted.")


def _done(action, message: str) -> None:  # type: ignore[no-untyped-def]
    if run_action(action, message) is not None:
        st.rerun()
