"""Writing to the model: the quota line, the edit and draft forms, and streaming a turn with a stop button."""

from __future__ import annotations

import streamlit as st

from core.chat import Turn, TurnOptions
from core.models import MessageStatus
from core.providers.registry import warm_up
from core.ui import state
from core.ui.chat.markdown import stream_images_as_links
from core.ui.chat.sidebar import sync_url
from core.ui.i18n import t, tr
from core.validation import escape_markdown


def _message_form(state_key: str, label: str, dismiss: str) -> str | None:
    """An editable message kept in state_key, with Send and a dismiss button; the text when sent."""
    with st.form(f"{state_key}_form"):
        text = st.text_area(label, value=st.session_state[state_key], key=f"{state_key}_text")
        cols = st.columns([1, 1, 6])
        send = cols[0].form_submit_button(t("chat.send"), type="primary")
        dismissed = cols[1].form_submit_button(dismiss)
    if dismissed:
        st.session_state.pop(state_key, None)
        st.rerun()
    return text if send else None


def edit_form() -> str | None:
    """The edit box for the last user message; returns the new text when submitted."""
    if state.EDITING not in st.session_state:
        return None
    text = _message_form(state.EDITING, t("chat.edit_label"), t("common.cancel"))
    if text is not None:
        st.session_state.pop(state.EDITING, None)
    return text


def keep_draft(text: str, error: str) -> None:
    """A refused message is not lost: it comes back in an editable box with the reason."""
    st.session_state[state.DRAFT] = text
    st.session_state[state.DRAFT_ERROR] = error


def draft_form() -> str | None:
    """The kept message, editable, with Send; returns its text when sent again."""
    if state.DRAFT not in st.session_state:
        return None
    # The reason can name a shared knowledge base: names are data, shown literally.
    st.error(escape_markdown(tr(st.session_state.get(state.DRAFT_ERROR))) or t("chat.not_sent"))
    return _message_form(state.DRAFT, t("chat.draft_label"), t("chat.discard"))


def clear_draft() -> None:
    st.session_state.pop(state.DRAFT, None)
    st.session_state.pop(state.DRAFT_ERROR, None)


def quota_caption(summary: str | None) -> None:
    """Remaining quota, shown above the chat input."""
    if summary is not None:
        st.caption(tr(summary))


def stream_turn(turn: Turn, options: TurnOptions) -> None:
    """Stream the reply; whatever happens (stop button included) the turn is closed and stored."""
    st.session_state[state.CONV] = turn.conversation_id
    st.session_state.pop(state.FOCUS, None)
    sync_url()  # before streaming: a stopped script sends nothing more to the browser
    with st.chat_message("assistant"):
        if turn.setup.notice:
            st.info(escape_markdown(tr(turn.setup.notice)))  # it lists document names: data, shown literally
        if options.provider == "local":
            with st.spinner(t("chat.loading_local")):
                warm_up("local")
        try:
            # Not st.write_stream: it has the browser complete unfinished Markdown (closing an open link or cutting
            # an open tag), which can turn text with no image into one. Each snapshot replaces the last.
            shown = st.empty()
            for text in stream_images_as_links(turn.deltas()):
                shown.markdown(text)
        finally:
            outcome = turn.close()  # runs on StopException too: the partial reply is kept
        if outcome.error and outcome.status == MessageStatus.error:
            st.error(tr(outcome.error))
