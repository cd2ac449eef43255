"""What a page shows when something unexpected fails: a short message with a correlation id, in the reader's
language; the full error goes to the log once, under that id. Never a traceback on screen."""

from __future__ import annotations

import logging
import secrets

import streamlit as st

from core.ui.i18n import t

logger = logging.getLogger(__name__)
# Streamlit logs every uncaught script error itself (as plain text): ours is the one log line, with the id.
logging.getLogger("streamlit.error_util").setLevel(logging.CRITICAL)


def report_unexpected(exc: Exception) -> bool:
    """st.App's on_script_error: log once with a correlation id, show a short message; True hides Streamlit's."""
    correlation = secrets.token_hex(4)
    logger.error("page failed", exc_info=exc, extra={"fields": {"correlation_id": correlation,
                                                                "error": type(exc).__name__}})
    try:
        st.error(t("errors.unexpected_with_id", id=correlation))
    except Exception:  # no page to write to (the session went away): the log line is what remains
        return False
    return True
