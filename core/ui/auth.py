"""Login gate and page guards: streamlit-authenticator for the cookie, core.auth for the rules."""

from __future__ import annotations

from datetime import datetime, timedelta

import streamlit as st
import streamlit_authenticator as stauth

from core.auth import authenticate, build_credentials, cookie_issued_at, revoke_sessions, validate_session
from core.config import get_settings
from core.db import session_scope
from core.errors import AppError, AuthError
from core.i18n import LANGUAGES, Msg
from core.models import Role, UserCreate, UserPublic
from core.ui import i18n, state
from core.ui.i18n import t, tr
from core.ui.runtime import bind_log_context, ensure_started
from core.users import register_user


def make_authenticator() -> stauth.Authenticate:
    """Build this run's Authenticate; call once per run (its cookie manager has a fixed key)."""
    settings = get_settings()
    with session_scope() as session:
        credentials = build_credentials(session=session)  # fresh dict: the library mutates it
    return stauth.Authenticate(
        credentials,
        cookie_name=settings.cookie.name,
        cookie_key=settings.cookie_key.get_secret_value(),
        cookie_expiry_days=settings.cookie.expiry_days,
        auto_hash=False,
        login_sleep_time=settings.login.sleep_seconds,
    )


def _start_session(user: UserPublic, logged_in_at: datetime) -> None:
    st.session_state.update(
        {
            state.AUTH_STATUS: True,
            state.USERNAME: user.username,
            state.NAME: user.display_name,
            state.EMAIL: user.email,
            state.ROLES: [user.role],
            state.AUTH_LOGOUT: None,
            state.USER_ID: user.id,
            state.LOGIN_AT: logged_in_at,
        }
    )


def _clear_session(message: str | None = None) -> None:
    for key in (state.AUTH_STATUS, state.USERNAME, state.NAME, state.EMAIL, state.ROLES,
                state.USER_ID, state.LOGIN_AT):
        st.session_state[key] = None
    st.session_state.pop(state.COOKIE_TOKEN, None)
    # Tells streamlit-authenticator not to log in again from the (revoked) cookie in this session.
    st.session_state[state.AUTH_LOGOUT] = True
    if message:
        st.session_state[state.FLASH] = message


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
        with session_scope() as session:
            user = validate_session(session=session, username=username, issued_at=login_at)
    except AuthError as exc:
        _clear_session(exc.user_message)
        return None
    bind_log_context(user.id)
    i18n.load_for(user)
    return user


def require_user() -> UserPublic:
    """Guard for every page: the current user, or an error and st.stop()."""
    user = current_user()
    if user is None:
        st.error(t("auth.login_required"))
        st.stop()
    return user


def require_admin() -> UserPublic:
    """Guard for admin pages: opening one by URL as a user is refused here too."""
    user = require_user()
    if user.role != Role.admin.value:
        st.error(t("auth.admins_only"))
        st.stop()
    return user


def login_from_cookie(authenticator: stauth.Authenticate) -> UserPublic | None:
    """Log in from the re-authentication cookie unless it was revoked server-side."""
    if st.session_state.get(state.AUTH_LOGOUT):
        return None
    token = authenticator.cookie_controller.get_cookie()
    if not token:
        return None
    issued_at = cookie_issued_at(token, get_settings().cookie.expiry_days)
    try:
        if issued_at is None:
            raise AuthError(Msg("auth.session_ended"))
        with session_scope() as session:
            user = validate_session(session=session, username=token["username"], issued_at=issued_at)
    except AuthError as exc:
        _clear_session(exc.user_message)
        authenticator.cookie_controller.delete_cookie()
        return None
    authenticator.authentication_controller.login(token=token)
    _start_session(user, issued_at)
    i18n.load_for(user)
    return user


def _on_login() -> None:
    username = st.session_state.get(state.LOGIN_USERNAME, "")
    password = st.session_state.get(state.LOGIN_PASSWORD, "")
    st.session_state[state.LOGIN_PASSWORD] = ""
    try:
        with session_scope() as session:
            result = authenticate(session=session, username=username, password=password,
                                  client=st.context.ip_address)
    except AppError as exc:
        st.session_state[state.FLASH] = exc.user_message
        return
    _start_session(result.user, result.logged_in_at)
    st.session_state[state.COOKIE_PENDING] = True


def _on_logout() -> None:
    user_id = st.session_state.get(state.USER_ID)
    if user_id:
        with session_scope() as session:
            # Server-side revocation: a copied cookie stops working too.
            revoke_sessions(session=session, user_id=user_id)
    _clear_session(t("auth.logged_out"))
    st.session_state[state.LOGOUT_PENDING] = True


COOKIE_SET_KEY = "set"  # extra_streamlit_components.CookieManager.set()'s default component key


def sync_cookie(authenticator: stauth.Authenticate) -> bool:
    """Write or delete the browser cookie after a login or logout handled in a callback.

    True when the browser holds this session's cookie, so a page reload would keep the user logged in.
    """
    model = authenticator.cookie_controller.cookie_model
    if st.session_state.pop(state.COOKIE_PENDING, False):
        expires = datetime.now() + timedelta(days=get_settings().cookie.expiry_days)
        model.exp_date = expires.timestamp()
        st.session_state[state.COOKIE_TOKEN] = (model._token_encode(), expires)  # the library's JWT format
    if st.session_state.pop(state.LOGOUT_PENDING, False):
        st.session_state.pop(state.COOKIE_TOKEN, None)
        authenticator.authentication_controller.logout()
        authenticator.cookie_controller.delete_cookie()
        return False
    issued = st.session_state.get(state.COOKIE_TOKEN)
    if issued and st.session_state.get(state.AUTH_STATUS):
        # The cookie is written by a component in the browser. Rendered with the same arguments on every
        # run, it stays mounted until it has run, even if the user clicks on before it loaded.
        token, expires = issued
        model.cookie_manager.set(model.cookie_name, token, expires_at=expires)
        return bool(st.session_state.get(COOKIE_SET_KEY))  # the component reports True once it has run
    return True


def logout_button() -> None:
    st.sidebar.button(t("auth.logout"), key=state.LOGOUT_BUTTON, on_click=_on_logout, width="stretch")


def show_flash() -> None:
    message = st.session_state.pop(state.FLASH, None)
    if message:
        st.info(tr(message))


def render_login() -> None:
    """The login form and, when registration is open, the sign-up form."""
    settings = get_settings()
    head, pick = st.columns([5, 1])
    head.title(settings.app_name)
    pick.selectbox(t("settings.language"), list(LANGUAGES), format_func=LANGUAGES.__getitem__, key="login_language",
                   index=list(LANGUAGES).index(i18n.language()), on_change=_on_language, label_visibility="hidden")
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


def _on_language() -> None:
    st.session_state[i18n.LANGUAGE] = st.session_state.get("login_language")


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
    try:
        with session_scope() as session:
            user = register_user(session=session, user_in=UserCreate(
                username=username, email=email, display_name=display_name, password=password))
    except AppError as exc:
        st.error(tr(exc.user_message))
        return
    if user.status == "pending":
        st.success(t("login.created_pending"))
    else:
        st.success(t("login.created_active"))
