"""Account forms: profile and password. Each returns what was submitted; the page calls the service."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.models import UserPublic, UserUpdate
from core.ui.i18n import t


def profile_form(user: UserPublic) -> UserUpdate | None:
    """The display name and email; the new values when saved."""
    with st.form("profile_form"):
        st.text_input(t("fields.username"), value=user.username, disabled=True)
        name = st.text_input(t("fields.display_name"), value=user.display_name, max_chars=100, key="profile_name")
        email = st.text_input(t("fields.email"), value=user.email, max_chars=254, key="profile_email")
        if not st.form_submit_button(t("profile.save"), key="profile_save"):
            return None
    return UserUpdate(display_name=name, email=email)


@dataclass(frozen=True)
class PasswordChange:
    current: str
    new: str
    repeat: str


def password_form() -> PasswordChange | None:
    """Current, new and repeated password; what was typed when submitted."""
    with st.form("password_form", clear_on_submit=True):
        current = st.text_input(t("password.current"), type="password", key="pw_current")
        new = st.text_input(t("password.new"), type="password", key="pw_new")
        repeat = st.text_input(t("password.repeat"), type="password", key="pw_repeat")
        st.caption(t("password.note"))
        if not st.form_submit_button(t("password.submit"), key="pw_save"):
            return None
    return PasswordChange(current, new, repeat)
