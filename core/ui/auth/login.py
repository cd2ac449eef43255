"""The login page (with sign-up when registration is open) and the logout button."""

from __future__ import annotations

import streamlit as st

from core.accounts import authenticate, register_user, revoke_sessions
from core.config import get_settings
from core.errors import AppError
from core.i18n import LANGUAGES
from core.models import UserCreate, UserStatus
from core.ui import i18n, state
from core.ui.actions import database, run_action, show_flash
from core.ui.auth.session import clear_session, start_session
from core.ui.i18n import t


def _on_login() -> None:
    username = st.session_state.get(state.LOGIN_USERNAME, "")
    password = st.session_state.get(state.LOGIN_PASSWORD, "")
    st.session_state[state.LOGIN_PASSWORD] = ""
    try:
        with database() as session:
            result = authenticate(session=session, username=username, password=password,
                                  client=st.context.ip_address)
    except AppError as exc:
        st.session_state[state.FLASH] = exc.user_message
        return
    start_session(result.user, result.logged_in_at)
    st.session_state[state.COOKIE_PENDING] = True


def _on_logout() -> None:
    user_id = st.session_state.get(state.USER_ID)
    if user_id:
        with database() as session:
            # Server-side revocation: a copied cookie stops working too.
            revoke_sessions(session=session, user_id=user_id)
    clear_session(t("auth.logged_out"))
    st.session_state[state.LOGOUT_PENDING] = True


def logout_button() -> None:
    st.sidebar.button(t("auth.logout"), key=state.LOGOUT_BUTTON, on_click=_on_logout, width="stretch")


def _on_language() -> None:
    st.session_state[state.LANGUAGE] = st.session_state.get(state.LOGIN_LANGUAGE)


def render_login() -> None:
    """The login form and, when registration is open, the sign-up form."""
    settings = get_settings()
    head, pick = st.columns([5, 1])
    head.title(settings.app_name)
    pick.selectbox(t("settings.language"), list(LANGUAGES), format_func=LANGUAGES.__getitem__,
                   key=state.LOGIN_LANGUAGE, index=list(LANGUAGES).index(i18n.language()), on_change=_on_language,
                   label_visibility="hidden")
    show_flash()
    tabs = [t("login.tab")] + ([t("login.register_tab")] if settings.registration != "closed" else [])
    panes = st.tabs(tabs)
    with panes[0], st.form("login_form"):
        st.text_input(t("fields.username"), key=state.LOGIN_USERNAME, autocomplete="username")
        st.text_input(t("fields.password"), type="password", key=state.LOGIN_PASSWORD,
                      autocomplete="current-password")
        st.form_submit_button(t("login.submit"), key=state.LOGIN_SUBMIT, on_click=_on_login, type="primary")
    if len(panes) > 1:
        with panes[1]:
            _render_register(settings.registration)


def _render_register(mode: str) -> None:
    if mode == "approval":
        st.caption(t("login.approval_note"))
    with st.form("register_form", clear_on_submit=False):
        display_name = st.text_input(t("fields.name"), key="register_name", max_chars=100)
        email = st.text_input(t("fields.email"), key="register_email", max_chars=254)
        username = st.text_input(t("fields.username"), key="register_username", max_chars=32)
        password = st.text_input(t("fields.password"), type="password", key="register_password")
        repeat = st.text_input(t("fields.repeat_password"), type="password", key="register_repeat")
        if not st.form_submit_button(t("login.register_submit"), key="register_submit"):
            return
    if password != repeat:
        st.error(t("login.passwords_differ"))
        return
    status = run_action(lambda s: register_user(session=s, user_in=UserCreate(
        username=username, email=email, display_name=display_name, password=password), client=st.context.ip_address))
    if status is not None:  # the same answer whether or not the name was free: nobody learns which names exist
        st.success(t("login.created_pending") if status == UserStatus.pending else t("login.created_active"))
