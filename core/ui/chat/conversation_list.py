"""The chat sidebar's conversation list: a new conversation, a title search, one line per conversation under day
headings (the open one highlighted), each with a menu to rename or delete it; a delete can be undone.

Titles are user data: they are shown literally, never as Markdown. On a narrow screen, picking a conversation
closes the sidebar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import streamlit as st
from sqlmodel import Session
from streamlit.delta_generator import DeltaGenerator

from core.history import (
    DayGroup,
    delete,
    get_owned,
    group_by_day,
    recent_conversations,
    rename,
    restore,
    time_zone,
)
from core.models import ConversationPublic
from core.ui import state
from core.ui.actions import run_action
from core.ui.chat.sidebar import new_conversation, open_conversation
from core.ui.i18n import t
from core.ui.monitoring import viewer_timezone
from core.validation import escape_markdown

PAGE = 30  # rows shown at first, and added by each "Show more"
TITLE_MAX = 200
NOTICE_CHARS = 40  # of a deleted conversation's title in the undo notice

# Scoped to this list's keys (Streamlit adds a `st-key-<key>` class): compact rows, the title on one line and
# left-aligned; wrap=False on the button already cuts it with an ellipsis (hovering shows it whole).
_STYLE = """<style>
.st-key-conv_list { gap: 0.125rem; }
.st-key-conv_list [class*="st-key-conv_row_"] { gap: 0.125rem; flex-wrap: nowrap; }
.st-key-conv_list [class*="st-key-conv_open_"] { flex: 1 1 0; min-width: 0; }
.st-key-conv_list [class*="st-key-conv_open_"] button { justify-content: flex-start; min-height: 2rem;
  padding: 0.125rem 0.5rem; }
.st-key-conv_list [class*="st-key-conv_open_"] button > div { justify-content: flex-start; min-width: 0; }
.st-key-conv_list [class*="st-key-conv_open_"] button p { text-align: left; }
.st-key-conv_list [class*="st-key-conv_menu_"] button { min-height: 2rem; padding: 0.125rem 0.25rem; }
.st-key-conv_list [class*="st-key-conv_menu_"] button > div > div[aria-hidden="true"] { display: none; }
.st-key-conv_list [class*="st-key-conv_group_"] { margin-top: 0.5rem; }
.st-key-conv_list .stElementContainer:has(> .stHtml) { display: none; }
</style>"""

# Streamlit has no call that closes the sidebar. Below its 768 px breakpoint the sidebar covers the page, so a
# click on a conversation (or on "New conversation") also presses the sidebar's own collapse button: the
# sidebar's state stays Streamlit's, and wider screens are left alone. Registered once per page load.
_CLOSE_ON_PICK = """<script>
(() => {
  if (window.parleyCloseSidebarOnPick) return;
  window.parleyCloseSidebarOnPick = true;
  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target || !target.closest('[class*="st-key-conv_open_"] button, .st-key-chat_new button')) return;
    if (window.innerWidth >= 768) return;
    const collapse = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
    if (collapse) collapse.click();
  });
})();
</script>"""


@dataclass(frozen=True)
class Deleted:
    """The last conversation deleted from the list, offered back until dismissed."""

    conversation_id: int
    title: str
    was_open: bool


def place() -> DeltaGenerator:
    """Where the list goes: under the model and knowledge pickers (filled by render(), at the end of the run)."""
    return st.sidebar.container(key="conv_list")


def render(user_id: int, where: DeltaGenerator) -> None:
    """The list, in its place; drawn after a turn is stored, so a new conversation is in it at once."""
    st.html(_STYLE)
    with where:
        st.button(t("chat.new"), key="chat_new", on_click=_start_new, icon=":material/add:", width="stretch")
        query = st.text_input(t("conversations.search"), key=state.CONV_SEARCH, max_chars=TITLE_MAX,
                              placeholder=t("conversations.search_placeholder"), label_visibility="collapsed",
                              icon=":material/search:")
        _undo_notice(user_id)
        shown = int(st.session_state.get(state.CONV_SHOWN, PAGE))
        rows = run_action(lambda s: recent_conversations(session=s, user_id=user_id, limit=shown + 1,
                                                         title_contains=query or None)) or []
        if not rows and query.strip():
            st.caption(t("conversations.none_found"))
        headings = _headings()
        for group, convs in group_by_day(rows[:shown], now=datetime.now(UTC), tz=time_zone(viewer_timezone())):
            with st.container(key=f"conv_group_{group}"):
                st.caption(headings[group])
            for conv in convs:
                _row(conv, user_id)
        if len(rows) > shown:
            st.button(t("conversations.show_more"), key="conv_more", on_click=_show_more, type="tertiary",
                      icon=":material/expand_more:")
        st.html(_CLOSE_ON_PICK, unsafe_allow_javascript=True)


def literal(title: str) -> str:
    """A title as a widget label shows it: every Markdown character escaped (& too, so no entity is decoded)."""
    return escape_markdown(" ".join(title.split()) or "…").replace("&", "\\&")


def _headings() -> dict[DayGroup, str]:
    return {"today": t("conversations.today"), "yesterday": t("conversations.yesterday"),
            "previous_7_days": t("conversations.previous_7_days"), "older": t("conversations.older")}


def _row(conv: ConversationPublic, user_id: int) -> None:
    """One line: the title (opens the conversation) and its menu, whose contents run only while it is open."""
    current = conv.id == st.session_state.get(state.CONV)
    with st.container(horizontal=True, vertical_alignment="center", key=f"conv_row_{conv.id}"):
        st.button(literal(conv.title), key=f"conv_open_{conv.id}", on_click=_open, args=(conv,),
                  type="secondary" if current else "tertiary", width="stretch", wrap=False)
        menu = st.popover("", icon=":material/more_vert:", type="tertiary", help=t("conversations.menu"),
                          key=f"conv_menu_{conv.id}", on_change="rerun")
    if menu.open:
        with menu:
            _menu(conv, user_id)


def _menu(conv: ConversationPublic, user_id: int) -> None:
    with st.form(key=f"conv_rename_{conv.id}", border=False, enter_to_submit=True):
        st.text_input(t("conversations.title"), value=conv.title, max_chars=TITLE_MAX, key=f"conv_title_{conv.id}")
        st.form_submit_button(t("conversations.rename"), icon=":material/edit:", on_click=_rename,
                              args=(conv.id, user_id))
    st.button(t("common.delete"), key=f"conv_delete_{conv.id}", icon=":material/delete:", on_click=_delete,
              args=(conv, user_id))


def _undo_notice(user_id: int) -> None:
    deleted: Deleted | None = st.session_state.get(state.CONV_DELETED)
    if deleted is None:
        return
    title = deleted.title if len(deleted.title) <= NOTICE_CHARS else deleted.title[:NOTICE_CHARS] + "…"
    with st.container(border=True, key="conv_undo_box"):
        st.caption(t("conversations.deleted", title=literal(title)))
        with st.container(horizontal=True):
            st.button(t("conversations.undo"), key="conv_undo", icon=":material/undo:", on_click=_undo,
                      args=(deleted, user_id))
            st.button(t("conversations.dismiss"), key="conv_undo_dismiss", type="tertiary", on_click=_forget_undo)


# Callbacks: they run before the next run draws anything, so the list and the page agree without a reload.

def _start_new() -> None:
    new_conversation()
    _forget_undo()


def _open(conv: ConversationPublic) -> None:
    open_conversation(conv)
    _forget_undo()


def _show_more() -> None:
    st.session_state[state.CONV_SHOWN] = int(st.session_state.get(state.CONV_SHOWN, PAGE)) + PAGE


def _forget_undo() -> None:
    st.session_state.pop(state.CONV_DELETED, None)


def _rename(conv_id: int, user_id: int) -> None:
    title = str(st.session_state.get(f"conv_title_{conv_id}") or "")
    def save(session: Session) -> bool:
        rename(session=session, user_id=user_id, conversation_id=conv_id, title=title)
        return True

    if run_action(save):
        st.session_state[f"conv_menu_{conv_id}"] = False  # close the menu: the new title is in the list


def _delete(conv: ConversationPublic, user_id: int) -> None:
    """Soft delete; deleting the open conversation starts a new one."""
    if not run_action(lambda s: delete(session=s, user_id=user_id, conversation_ids=[conv.id])):
        return
    was_open = st.session_state.get(state.CONV) == conv.id
    if was_open:
        new_conversation()
    st.session_state[state.CONV_DELETED] = Deleted(conv.id, conv.title, was_open)


def _undo(deleted: Deleted, user_id: int) -> None:
    """Bring the conversation back; reopen it if it was open and nothing else has been opened since."""
    _forget_undo()
    if not run_action(lambda s: restore(session=s, user_id=user_id, conversation_ids=[deleted.conversation_id])):
        return
    if deleted.was_open and st.session_state.get(state.CONV) is None:
        conv = run_action(lambda s: ConversationPublic.model_validate(
            get_owned(session=s, user_id=user_id, conversation_id=deleted.conversation_id)), quiet=True)
        if conv is not None:
            open_conversation(conv)
