"""This browser session's login state, in the keys streamlit-authenticator reads too."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from core.models import UserPublic
from core.ui import state


def start_session(user: UserPublic, logged_in_at: datetime) -> None:
    st.session_state.update(
        {
            state.AUTH_STATUS: True,
            state.USERNAME: user.username,
            state.NAME: user.display_name,
            state.EMAIL: user.email,
            state.ROLES: [user.role.value],
            state.AUTH_LOGOUT: None,
            state.USER_ID: user.id,
            state.LOGIN_AT: logged_in_at,
        }
    )


def clear_session(message: str | None = None) -> None:
    for key in (state.AUTH_STATUS, state.USERNAME, state.NAME, state.EMAIL, state.ROLES,
                state.USER_ID, state.LOGIN_AT):
        st.session_state[key] = None
    st.session_state.pop(state.COOKIE_TOKEN, None)
    # Tells streamlit-authenticator not to log in again from the (revoked) cookie in this session.
    st.session_state[state.AUTH_LOGOUT] = True
    if message:
        st.session_state[state.FLASH] = message


def renew_cookie(now: datetime) -> None:
    """Keep this session valid past a revocation it caused itself (own password change): new login time, cookie."""
    st.session_state[state.LOGIN_AT] = now
    st.session_state[state.COOKIE_PENDING] = True
