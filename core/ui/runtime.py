"""Process-wide resources for the UI (st.cache_resource) and per-run log context."""

from __future__ import annotations

import logging

import streamlit as st
from starlette.websockets import WebSocketState
from streamlit.runtime import Runtime
from streamlit.runtime.app_session import AppSessionState
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.app import startup
from core.config import get_settings
from core.logging import log_session_id, log_user_id

logger = logging.getLogger(__name__)


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


def _sessions() -> list[tuple[bool, object]]:
    """(running its script?, websocket client) for each connected UI session of this process."""
    if not Runtime.exists():
        return []
    # Streamlit has no public API for this: its session manager, AppSession's state and the Starlette client's
    # websocket are private (streamlit 1.67, checked in tests/browser/test_cluster.py's rolling restart).
    active = Runtime.instance()._session_mgr.list_active_sessions()
    return [(getattr(info.session, "_state", None) == AppSessionState.APP_IS_RUNNING, info.client) for info in active]


def sessions_running() -> int:
    """UI sessions running their script now (a reply being written, a page being drawn)."""
    return sum(1 for running, _ in _sessions() if running)


async def close_idle_sessions() -> int:
    """Close the websocket of every UI session not running its script (1012: service restart); its browser
    reconnects, through the proxy, to another instance. Call on the server's event loop. The sessions closed."""
    closed = 0
    for running, client in _sessions():
        websocket = getattr(client, "_websocket", None)
        if running or websocket is None or websocket.application_state != WebSocketState.CONNECTED:
            continue
        try:
            await websocket.close(code=1012)
            closed += 1
        except (RuntimeError, OSError):  # closed meanwhile by its browser
            logger.debug("websocket already closed", exc_info=True)
    return closed
