"""Shared widgets: run a core call and show its outcome; profile and password forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st
from sqlmodel import Session

from core.db import session_scope
from core.errors import AppError
from core.models import UserPublic, UserUpdate, utcnow
from core.ui import state
from core.ui.i18n import t, tr
from core.users import change_password, update_profile

T = TypeVar("T")


def run_action(action: Callable[[Session], T], success: str | None = None) -> T | None:
    """Run one core call in a transaction; show its user_message on failure, never a traceback."""
    try:
        with session_scope() as session:
            result = action(session)
    except AppError as exc:
        st.error(tr(exc.user_message))
        return None
    if success:
        st.session_state[state.FLASH] = success
    return result


def profile_form(user: UserPublic) -> None:
    with st.form("profile_form"):
        st.text_input(t("fields.username"), value=user.username, disabled=True)
        name = st.text_input(t("fields.display_name"), value=user.display_name, max_chars=100, key="profile_name")
        email = st.text_input(t("fields.email"), value=user.email, max_chars=254, key="profile_email")
        if not st.form_submit_button(t("profile.save"), key="profile_save"):
            return
    updated = run_action(
        lambda s: update_profile(session=s, user_id=user.id, user_in=UserUpdate(display_name=name, email=email)),
        t("profile.saved"),
    )
    if updated is not None:
        st.rerun()


def password_form(user: UserPublic) -> None:
    with st.form("password_form", clear_on_submit=True):
        current = st.text_input(t("password.current"), type="password", key="pw_current")
        new = st.text_input(t("password.new"), type="password", key="pw_new")
        repeat = st.text_input(t("password.repeat"), type="password", key="pw_repeat")
        st.caption(t("password.note"))
        if not st.form_submit_button(t("password.submit"), key="pw_save"):
            return

    def _change(session: Session) -> bool:
        change_password(session=session, user_id=user.id, current=current, new=new, repeat=repeat)
        return True

    if run_action(_change, t("password.changed")) is not None:
        # This session stays valid: its login time moves past the revocation, with a fresh cookie.
        st.session_state[state.LOGIN_AT] = utcnow()
        st.session_state[state.COOKIE_PENDING] = True
        st.rerun()
