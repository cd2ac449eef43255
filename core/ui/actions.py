"""The one place core/ui opens the database: run a core call in a transaction and show its outcome."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import streamlit as st
from sqlmodel import Session

from core.db import session_scope
from core.errors import AppError
from core.ui import state
from core.ui.i18n import tr

T = TypeVar("T")


@contextmanager
def database() -> Iterator[Session]:
    """A transaction on the app's database (commits on success); for the login gate and run_action."""
    with session_scope() as session:
        yield session


def run_action(action: Callable[[Session], T], success: str | None = None, *, quiet: bool = False) -> T | None:
    """Run one core call in a transaction; on a refusal show its user_message (never a traceback) and return None.

    quiet: the caller has nothing to say about a refusal (an optional caption, a stale link), so show nothing.
    """
    try:
        with database() as session:
            result = action(session)
    except AppError as exc:
        if not quiet:
            st.error(tr(exc.user_message))
        return None
    if success:
        st.session_state[state.FLASH] = success
    return result


def rerun_after(action: Callable[[Session], object], success: str | None = None) -> None:
    """Run an action that changes something; when it succeeded, rerun so the page shows the change."""
    if run_action(lambda session: action(session) or True, success) is not None:
        st.rerun()


def show_flash() -> None:
    """The message a previous run left for this one (a saved form, a logout)."""
    message = st.session_state.pop(state.FLASH, None)
    if message:
        st.info(tr(message))
