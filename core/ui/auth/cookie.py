"""The re-login cookie: streamlit-authenticator's cookie manager in the browser, core.accounts for the rules."""

from __future__ import annotations

from datetime import datetime, timedelta

import streamlit as st
import streamlit_authenticator as stauth

from core.accounts import build_credentials, cookie_issued_at, cookie_token, validate_session
from core.config import get_settings
from core.errors import AuthError
from core.i18n import Msg
from core.models import UserPublic
from core.ui import state
from core.ui.actions import database
from core.ui.auth.guards import load_preferences
from core.ui.auth.session import clear_session, start_session


def make_authenticator() -> stauth.Authenticate:
    """Build this run's Authenticate; call once per run (its cookie manager has a fixed key)."""
    settings = get_settings()
    with database() as session:
        credentials = build_credentials(session=session)  # fresh dict: the library mutates it
    return stauth.Authenticate(
        credentials,
        cookie_name=settings.cookie.name,
        cookie_key=settings.cookie_key.get_secret_value(),
        cookie_expiry_days=settings.cookie.expiry_days,
        auto_hash=False,
        login_sleep_time=settings.login.sleep_seconds,
    )


def login_from_cookie(authenticator: stauth.Authenticate) -> UserPublic | None:
    """Log in from the re-authentication cookie unless it was revoked server-side."""
    if st.session_state.get(state.AUTH_LOGOUT):
        return None
    try:
        token = authenticator.cookie_controller.get_cookie()
    except Exception:  # a forged or malformed cookie (alg=none, bad claims) is no cookie at all
        authenticator.cookie_controller.delete_cookie()
        return None
    if not token:
        return None
    issued_at = cookie_issued_at(token)
    try:
        if issued_at is None:
            raise AuthError(Msg("auth.session_ended"))
        with database() as session:
            user = validate_session(session=session, username=token["username"], issued_at=issued_at)
    except AuthError as exc:
        clear_session(exc.user_message)
        authenticator.cookie_controller.delete_cookie()
        return None
    authenticator.authentication_controller.login(token=token)
    start_session(user, issued_at)
    load_preferences(user)
    return user


def sync_cookie(authenticator: stauth.Authenticate) -> bool:
    """Write or delete the browser cookie after a login or logout handled in a callback.

    True when the browser holds this session's cookie, so a page reload would keep the user logged in.
    """
    settings = get_settings()
    model = authenticator.cookie_controller.cookie_model
    if st.session_state.pop(state.COOKIE_PENDING, False):
        expires = datetime.now() + timedelta(days=settings.cookie.expiry_days)
        token = cookie_token(username=st.session_state[state.USERNAME], issued_at=st.session_state[state.LOGIN_AT],
                             exp_date=expires.timestamp(), key=settings.cookie_key.get_secret_value())
        st.session_state[state.COOKIE_TOKEN] = (token, expires)
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
        model.cookie_manager.set(settings.cookie.name, token, expires_at=expires)
        return bool(st.session_state.get(state.COOKIE_SET))  # the component reports True once it has run
    return True
