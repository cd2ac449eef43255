"""Process-wide resources for the UI (st.cache_resource) and per-run log context."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.app import startup
from core.config import get_settings
from core.logging import log_session_id, log_user_id


@st.cache_resource(show_spinner=False)
def _started(database_url: str) -> bool:
    startup()
    return True


def ensure_started() -> None:
    """Migrate and bootstrap once per process (server.py normally did it already)."""
    _started(get_settings().sqlalchemy_url)


def navigation_only() -> None:
    """Pages come from Home.py's st.navigation only, from a process's very first session on.

    Streamlit runs a fresh process's first session in its old pages/-directory mode until some session calls
    st.navigation: a browser that reconnects to a new or restarted instance on a page URL (/chat?c=12, after a
    failover) would run pages/chat.py without Home.py's login gate and see "Please log in". Called at import
    of server.py, before any session.
    """
    PagesManager.uses_pages_directory = False


def bind_log_context(user_id: int | None) -> None:
    """Tag this run's log lines with the user and the Streamlit session."""
    ctx = get_script_run_ctx()
    log_session_id.set(ctx.session_id if ctx else None)
    log_user_id.set(user_id)
