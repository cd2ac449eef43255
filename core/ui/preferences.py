"""Settings → Appearance (language, theme) and Chat defaults (model, system prompt, named presets).

Each form returns what was submitted; the page calls the service (presets through perform()).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import streamlit as st

from core.accounts import delete_preset, save_preset
from core.config import get_settings
from core.db import get_engine
from core.i18n import LANGUAGES, THEMES
from core.model_catalog import offered
from core.models import PreferencesPublic, PromptPresetPublic
from core.ui.actions import rerun_after
from core.ui.i18n import labels, t

PORTAL_DEFAULT = ""


def defaults_form(prefs: PreferencesPublic) -> PreferencesPublic | None:
    """The model new conversations start with and their system prompt; the new defaults when saved."""
    settings = get_settings()
    choices = [PORTAL_DEFAULT] + [f"{p}/{m}" for p, c in offered(settings, get_engine(settings)).providers.items()
                                  for m in c.models]  # the catalog's enabled models
    current = f"{prefs.default_provider}/{prefs.default_model}" if prefs.default_model else PORTAL_DEFAULT
    with st.form("prefs_form"):
        model = st.selectbox(t("prefs.default_model"), choices, key="prefs_model",
                             index=choices.index(current) if current in choices else 0,
                             format_func=labels({"": t("prefs.portal_default")}))
        prompt = st.text_area(t("prefs.default_prompt"), value=prefs.default_system_prompt, max_chars=8000,
                              key="prefs_prompt", height=100)
        if not st.form_submit_button(t("prefs.save"), key="prefs_save"):
            return None
    provider, _, name = ("", "", "") if model == PORTAL_DEFAULT else model.partition("/")
    return PreferencesPublic(default_provider=provider, default_model=name, default_system_prompt=prompt)


@dataclass(frozen=True)
class PresetRequest:
    action: Literal["save", "delete"]
    name: str = ""
    content: str = ""
    preset_id: int | None = None  # None: a new preset


def presets_editor(presets: list[PromptPresetPublic]) -> PresetRequest | None:
    """Each preset, editable, and a form for a new one; what the user asked for, if anything."""
    st.subheader(t("presets.title"))
    st.caption(t("presets.hint"))
    asked = None
    for preset in presets:
        asked = _preset_form(preset) or asked
    with st.form("preset_new", clear_on_submit=True):
        name = st.text_input(t("presets.new_name"), max_chars=60, key="preset_new_name")
        content = st.text_area(t("presets.prompt"), max_chars=8000, key="preset_new_text")
        if st.form_submit_button(t("presets.add"), key="preset_add"):
            asked = PresetRequest("save", name, content)
    return asked


def _preset_form(preset: PromptPresetPublic) -> PresetRequest | None:
    with st.expander(preset.name), st.form(f"preset_form_{preset.id}"):
        name = st.text_input(t("fields.name"), value=preset.name, max_chars=60, key=f"preset_name_{preset.id}")
        content = st.text_area(t("presets.prompt"), value=preset.content, max_chars=8000,
                               key=f"preset_text_{preset.id}")
        cols = st.columns([1, 1, 4])
        if cols[0].form_submit_button(t("common.save")):
            return PresetRequest("save", name, content, preset.id)
        if cols[1].form_submit_button(t("common.delete")):
            return PresetRequest("delete", preset_id=preset.id)
    return None


def appearance_form(prefs: PreferencesPublic) -> tuple[str, str] | None:
    """Language of every page and light/dark theme; (language, theme) when saved."""
    languages = ["", *LANGUAGES]
    with st.form("appearance_form"):
        language = st.selectbox(t("settings.language"), languages, key="prefs_language",
                                index=languages.index(prefs.language) if prefs.language in languages else 0,
                                format_func=labels({"": t("settings.language_browser"), **LANGUAGES}))
        theme = st.radio(t("settings.theme"), THEMES, index=THEMES.index(prefs.theme), horizontal=True,
                         key="prefs_theme", format_func=labels({n: t(f"settings.theme_{n}") for n in THEMES}))
        if not st.form_submit_button(t("common.save"), key="appearance_save"):
            return None
    return language, theme


def perform(asked: PresetRequest, *, user_id: int) -> None:
    """Save or delete a preset as the editor asked; the outcome is shown after the rerun."""
    if asked.action == "delete" and asked.preset_id is not None:
        preset_id = asked.preset_id
        rerun_after(lambda s: delete_preset(session=s, user_id=user_id, preset_id=preset_id), t("presets.deleted"))
    elif asked.action == "save":
        rerun_after(lambda s: save_preset(session=s, user_id=user_id, name=asked.name, content=asked.content,
                                          preset_id=asked.preset_id),
                    t("presets.added") if asked.preset_id is None else t("presets.saved"))
