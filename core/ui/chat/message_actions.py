"""The actions under a message: versions ‹ n/m ›, copy, 👍 / 👎 with a comment, edit (in place), regenerate and
continue. A turn they start (regenerate, continue, edit) is left in state.PENDING for the page to run."""

from __future__ import annotations

import html
from dataclasses import dataclass

import streamlit as st

from core.history import Version, clear_feedback, give_feedback, show_version
from core.models import MessagePublic, MessageRole
from core.ui import state
from core.ui.actions import run_action
from core.ui.i18n import t

# One listener for every copy button of the page: the raw Markdown to the clipboard, over plain HTTP too (the
# Clipboard API exists only on https and localhost; elsewhere a selected textarea and execCommand copy it).
_COPY_SCRIPT = """
<script>
if (!window.__parleyCopy) {
  window.__parleyCopy = function (event) {
    const button = event.target.closest && event.target.closest("button.parley-copy");
    if (!button) return;
    const text = button.getAttribute("data-text") || "";
    const done = function () {
      const label = button.textContent;
      button.textContent = button.getAttribute("data-copied");
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    const fallback = function () {
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      try { document.execCommand("copy"); done(); } finally { document.body.removeChild(area); }
    };
    if (window.isSecureContext && navigator.clipboard) {
      navigator.clipboard.writeText(text).then(done, fallback);
    } else {
      fallback();
    }
  };
  document.addEventListener("click", window.__parleyCopy, true);
}
</script>
"""
_COPY_STYLE = ("border:none;background:none;cursor:pointer;font-size:0.8rem;opacity:0.7;padding:0 0.3rem;"
               "color:inherit")


def install_copy() -> None:
    """The page's copy listener (trusted, constant code; the texts live in the buttons' data attributes)."""
    st.html(_COPY_SCRIPT, unsafe_allow_javascript=True)


def _copy_button(message: MessagePublic) -> None:
    # The text is an attribute value, escaped: it cannot open a tag or a script.
    st.html(f'<button class="parley-copy" type="button" title="{html.escape(t("chat.copy"))}" '
            f'data-copied="{html.escape(t("chat.copied"))}" data-text="{html.escape(message.content)}" '
            f'style="{_COPY_STYLE}">{html.escape(t("chat.copy"))}</button>', width="content")


def _switch(user_id: int, conversation_id: int, message_id: int) -> None:
    run_action(lambda s: show_version(session=s, user_id=user_id, conversation_id=conversation_id,
                                      message_id=message_id))
    st.session_state.pop(state.EDITING, None)


def _rated(user_id: int, message_id: int) -> None:
    """The thumbs changed: 1 up, 0 down, None taken back (the comment stays with a rating)."""
    chosen = st.session_state.get(f"chat_rating_{message_id}")
    if chosen is None:
        run_action(lambda s: clear_feedback(session=s, user_id=user_id, message_id=message_id))
        return
    comment = st.session_state.get(f"chat_comment_{message_id}", "")
    run_action(lambda s: give_feedback(session=s, user_id=user_id, message_id=message_id,
                                       rating=1 if chosen == 1 else -1, comment=comment))


def _comment(user_id: int, message_id: int, rating: int) -> None:
    comment = st.session_state.get(f"chat_comment_{message_id}", "")
    run_action(lambda s: give_feedback(session=s, user_id=user_id, message_id=message_id, rating=rating,
                                       comment=comment), t("chat.feedback_saved"))


@dataclass(frozen=True)
class Pending:
    """A turn an action asked for: "regenerate", "continue" or "edit" (of message_id, to text)."""

    kind: str
    message_id: int = 0
    text: str = ""


def _pending(kind: str, message_id: int = 0, text: str = "") -> None:
    st.session_state[state.PENDING] = Pending(kind, message_id, text)
    st.session_state.pop(state.EDITING, None)


def _versions(version: Version, user_id: int, conversation_id: int) -> None:
    earlier = version.siblings[version.n - 2] if version.n > 1 else None
    later = version.siblings[version.n] if version.n < version.total else None
    key = version.siblings[version.n - 1]
    st.button("‹", key=f"chat_prev_{key}", disabled=earlier is None, type="tertiary",
              help=t("chat.previous_version"), on_click=_switch, args=(user_id, conversation_id, earlier))
    st.caption(f"{version.n}/{version.total}", width="content")
    st.button("›", key=f"chat_next_{key}", disabled=later is None, type="tertiary",
              help=t("chat.next_version"), on_click=_switch, args=(user_id, conversation_id, later))


def _feedback(message: MessagePublic, feedback: tuple[int, str] | None, user_id: int) -> None:
    mid, rating = message.id, feedback[0] if feedback else None
    key = f"chat_rating_{mid}"
    if key not in st.session_state:  # as stored; afterwards the widget keeps the user's last choice
        st.session_state[key] = None if rating is None else (1 if rating == 1 else 0)
    st.feedback("thumbs", key=key, on_change=_rated, args=(user_id, mid))
    if rating is not None:
        with st.popover(t("chat.comment"), icon=":material/chat_bubble_outline:", type="tertiary"):
            st.session_state.setdefault(f"chat_comment_{mid}", feedback[1] if feedback else "")
            st.text_area(t("chat.feedback_comment"), key=f"chat_comment_{mid}", max_chars=2000)
            st.button(t("common.save"), key=f"chat_comment_save_{mid}", on_click=_comment, args=(user_id, mid, rating))


def row(message: MessagePublic, version: Version | None, feedback: tuple[int, str] | None, *, user_id: int,
        conversation_id: int, last: bool) -> None:
    """The message's actions on one line."""
    mid = message.id
    with st.container(horizontal=True, gap="small", vertical_alignment="center", key=f"chat_actions_{mid}"):
        if version is not None:
            _versions(version, user_id, conversation_id)
        _copy_button(message)
        if message.role == MessageRole.user:
            st.button(t("chat.edit"), key=f"chat_edit_{mid}", type="tertiary", icon=":material/edit:",
                      on_click=lambda: st.session_state.__setitem__(state.EDITING, mid))
            return
        _feedback(message, feedback, user_id)
        if last:
            st.button(t("chat.regenerate"), key="chat_regenerate", type="tertiary", icon=":material/refresh:",
                      on_click=_pending, args=("regenerate",))
            if message.stop_reason and message.content:
                st.button(t("chat.continue"), key="chat_continue", type="tertiary", icon=":material/play_arrow:",
                          on_click=_pending, args=("continue",))


def edit_box(message: MessagePublic) -> None:
    """The user message as an editable box in its own place; Send answers the new version."""
    key = f"chat_edit_text_{message.id}"
    with st.form(f"chat_edit_form_{message.id}"):
        st.text_area(t("chat.edit_label"), value=message.content, key=key)
        cols = st.columns([1, 1, 6])
        cols[0].form_submit_button(t("chat.send"), type="primary", on_click=lambda: _pending(
            "edit", message.id, str(st.session_state.get(key, ""))))
        cols[1].form_submit_button(t("common.cancel"), on_click=lambda: st.session_state.pop(state.EDITING, None))


def take_pending() -> Pending | None:
    """The turn an action asked for (regenerate, continue, edit), once."""
    pending = st.session_state.pop(state.PENDING, None)
    return pending if isinstance(pending, Pending) else None
