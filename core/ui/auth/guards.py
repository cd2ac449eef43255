"""Page guards: every page calls one when it runs (a URL can open a page directly, and AppTest skips the router)."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from core.accounts import get_preferences, validate_session
from core.errors import AuthError
from core.models import Role, UserPublic
from core.ui import i18n, state
from core.ui.actions import database
from core.ui.auth.session import clear_session
from core.ui.i18n import t
from core.ui.runtime import bind_log_context, ensure_started


def load_preferences(user: UserPublic) -> None:
    """The user's language and theme, read once per session."""
    if i18n.needs_preferences(user.id):
        with database() as session:
            i18n.load_preferences(user.id, get_preferences(session=session, user_id=user.id))


def current_user() -> UserPublic | None:
    """The logged-in user, re-checked against the database on every run (revocation, role)."""
    ensure_started()
    if not st.session_state.get(state.AUTH_STATUS):
        return None
    username = st.session_state.get(state.USERNAME)
    login_at = st.session_state.get(state.LOGIN_AT)
    if not username or not isinstance(login_at, datetime):
        return None
    try:
        with database() as session:
            user = validate_session(session=session, username=username, issued_at=login_at)
    except AuthError as exc:
        clear_session(exc.user_message)
        return None
    bind_log_context(user.id)
    load_preferences(user)
    return user


def require_user() -> UserPublic:
    """Guard for every page: the current user, or an error and st.stop()."""
    user = current_user()
    if user is None:
        st.error(t("auth.login_required"))
        st.stop()
    return user


def require_admin() -> UserPublic:
    """Guard for admin pages: opening one by URL as a user is refused here too (and again in core)."""
    user = require_user()
    if user.role != Role.admin:
        st.error(t("auth.admins_only"))
        st.stop()
    return user
