"""Writing to the model: the quota line, the draft form with a limit's countdown, and streaming a turn with a stop
button."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from itertools import chain

import streamlit as st

from core.chat import Turn, TurnOptions
from core.config import get_settings
from core.history.attachments import Upload
from core.models import MessageStatus
from core.providers.images import looks_like_image
from core.providers.registry import warm_up
from core.ui import state
from core.ui.chat.markdown import stream_images_as_links
from core.ui.chat.markdown_breaks import hard_breaks
from core.ui.chat.sidebar import show_conversation, sync_url
from core.ui.i18n import t, tr
from core.validation import escape_markdown

COUNTDOWN_MAX = 300  # seconds: a longer wait (a daily budget) says when, without a countdown


def _message_form(state_key: str, label: str, dismiss: str, *, disabled: bool = False,
                  files: Sequence[str] = ()) -> tuple[str, list[str]] | None:
    """An editable message kept in state_key, with its files (each can be left out), Send and a dismiss button;
    the text and the files kept when sent."""
    with st.form(f"{state_key}_form"):
        text = st.text_area(label, value=st.session_state[state_key], key=f"{state_key}_text")
        kept = st.multiselect(t("chat.draft_files"), list(files), default=list(files),
                              key=f"{state_key}_kept") if files else []
        cols = st.columns([1, 1, 6])
        send = cols[0].form_submit_button(t("chat.send"), type="primary", disabled=disabled)
        dismissed = cols[1].form_submit_button(dismiss)
    if dismissed:
        st.session_state.pop(state_key, None)
        st.session_state.pop(state.DRAFT_FILES, None)
        st.rerun()
    return (text, kept) if send else None


FILE_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "pdf", "docx", "md", "markdown", "html", "htm", "txt"]


def chat_box(disabled: bool) -> tuple[str, list[Upload]] | None:
    """The message box, which takes images and documents (drop, paste or pick; its text states the real limits):
    what was sent."""
    settings = get_settings()
    limits, documents_mb = settings.attachments, settings.knowledge.max_file_mb
    value = st.chat_input(t("chat.input_with_files", mb=f"{limits.max_image_mb:g}", doc_mb=f"{documents_mb:g}"),
                          key="chat_input", submit_mode="disable", max_chars=None, disabled=disabled,
                          accept_file="multiple", file_type=FILE_TYPES,
                          max_upload_size=max(1, math.ceil(max(limits.max_image_mb, documents_mb))))
    if value is None or isinstance(value, str):
        return None if value is None else (value, [])
    return value.text or "", [Upload(f.name, f.getvalue()) for f in value.files]


def reading(files: Sequence[Upload]) -> AbstractContextManager[object]:
    """A spinner while the message's files are read (a long document's passages embedded), if it has any."""
    return st.spinner(t("chat.reading_files")) if files else nullcontext()


def images_sent() -> bool:
    """This run sends a message with images (read before the box is drawn: the picker, drawn first, offers only
    models that can see them)."""
    files = getattr(st.session_state.get("chat_input"), "files", None) or []
    return any(looks_like_image(f.getvalue()[:16]) for f in files)


def keep_draft(text: str, error: str, retry_after: int | None = None, files: Sequence[Upload] = ()) -> None:
    """A refused message is not lost: it comes back in an editable box with the reason and its images (and, for
    a limit that frees up soon, a countdown after which sending is possible again by itself)."""
    st.session_state[state.DRAFT] = text
    st.session_state[state.DRAFT_ERROR] = error
    st.session_state[state.DRAFT_FILES] = list(files)
    if retry_after is not None and retry_after <= COUNTDOWN_MAX:
        st.session_state[state.RETRY_AT] = time.time() + retry_after


def waiting() -> bool:
    """True while a limit's countdown runs: sending is off until it ends."""
    return st.session_state.get(state.RETRY_AT, 0) > time.time()


@st.fragment(run_every=1)
def countdown() -> None:
    """Seconds until sending is possible again, counted down; at zero the whole page runs again (sending on)."""
    retry_at = st.session_state.get(state.RETRY_AT)
    if retry_at is None:
        return
    left = math.ceil(retry_at - time.time())
    if left <= 0:
        st.session_state.pop(state.RETRY_AT, None)
        st.rerun(scope="app")
    st.caption(t("chat.retry_countdown", s=left))


def draft_form() -> tuple[str, list[Upload]] | None:
    """The kept message, editable, with its images and Send; returns them when sent again."""
    if state.DRAFT not in st.session_state:
        return None
    # The reason can name a shared knowledge base: names are data, shown literally.
    st.error(escape_markdown(tr(st.session_state.get(state.DRAFT_ERROR))) or t("chat.not_sent"))
    files: list[Upload] = st.session_state.get(state.DRAFT_FILES) or []
    sent = _message_form(state.DRAFT, t("chat.draft_label"), t("chat.discard"), disabled=waiting(),
                         files=[f"{n + 1}. {f.name}" for n, f in enumerate(files)])
    if sent is None:
        return None
    kept = {int(label.split(".", 1)[0]) - 1 for label in sent[1]}  # numbered: two files may share a name
    return sent[0], [f for n, f in enumerate(files) if n in kept]


def draft_images() -> bool:
    """The kept message has images (the model picker offers only models that can see them)."""
    return any(looks_like_image(f.data) for f in st.session_state.get(state.DRAFT_FILES) or [])


def clear_draft() -> None:
    st.session_state.pop(state.DRAFT, None)
    st.session_state.pop(state.DRAFT_ERROR, None)
    st.session_state.pop(state.DRAFT_FILES, None)


def quota_caption(summary: str | None) -> None:
    """Remaining quota, shown above the chat input."""
    if summary is not None:
        st.caption(tr(summary))


def wait_for_last_turn(timeout: float = 15.0) -> None:
    """A run that interrupted a streaming one (Stop, any click) starts at once in a new thread, while the old one is
    still storing its reply: wait for that, so this run shows the reply as stored (marker, Continue, quota)."""
    done = st.session_state.get(state.TURN_DONE)
    if isinstance(done, threading.Event):
        done.wait(timeout)


def stream_turn(turn: Turn, options: TurnOptions) -> None:
    """Stream the reply; whatever happens (Stop included) the turn is closed and stored.

    Stop is a button of the page: pressing it asks for a new run, which interrupts this one at its next update
    (the partial reply is stored in the finally below) and then draws the whole page from the database: the
    "stopped" marker, Continue, Regenerate and Edit, the sidebar and the quota line, with no reload."""
    show_conversation(turn.conversation_id)
    sync_url()  # before streaming: an interrupted run sends nothing more to the browser
    with st.chat_message("assistant"):
        st.button(t("chat.stop"), key="chat_stop", icon=":material/stop_circle:", type="tertiary")
        if turn.setup.notice:
            st.info(escape_markdown(tr(turn.setup.notice)))  # it lists document names: data, shown literally
        if options.provider == "local":
            with st.spinner(t("chat.loading_local")):
                warm_up("local")
        done = st.session_state[state.TURN_DONE] = threading.Event()
        try:
            # Not st.write_stream: it has the browser complete unfinished Markdown (closing an open link or cutting
            # an open tag), which can turn text with no image into one. Each snapshot replaces the last; a continued
            # reply shows its earlier text first.
            shown = st.empty()
            for text in stream_images_as_links(chain([turn.prefix], turn.deltas())):
                shown.markdown(hard_breaks(text))
        finally:
            try:
                outcome = turn.close()  # runs when interrupted too (Stop, a new run): the partial reply is kept
            finally:
                done.set()
        if outcome.error and outcome.status == MessageStatus.error:
            st.error(tr(outcome.error))
