"""History widgets: search with snippets, the conversation table with bulk actions, export and import."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import streamlit as st

from core.config import get_settings
from core.conversations import read_conversation
from core.db import session_scope
from core.errors import AppError
from core.history import Hit, ListFilter, Page, delete, rename, set_flags
from core.models import UserPublic
from core.transfer import export_json, export_markdown, import_conversations
from core.ui import chat_view
from core.ui.forms import run_action


def open_in_chat(user: UserPublic, conversation_id: int, message_id: int | None = None) -> None:
    """Continue a conversation in Chat (at the search hit, when there is one)."""
    try:
        with session_scope() as session:
            conv, _ = read_conversation(session=session, user_id=user.id, conversation_id=conversation_id)
    except AppError as exc:
        st.error(exc.user_message)
        return
    chat_view.open_conversation(conv)
    st.session_state[chat_view.FOCUS] = message_id
    st.switch_page("pages/chat.py")


def search_results(user: UserPublic, hits: list[Hit]) -> None:
    if not hits:
        st.info("Nothing found.")
        return
    st.caption(f"{len(hits)} results, newest first")
    for i, hit in enumerate(hits):
        with st.container(border=True):
            cols = st.columns([6, 1])
            where = "title" if hit.message_id is None else f"{hit.role} · {hit.created_at:%Y-%m-%d %H:%M} UTC"
            cols[0].markdown(f"**{chat_view.escape_markdown(hit.title)}** · {where}\n\n{hit.snippet}")
            if cols[1].button("Open", key=f"hit_open_{i}"):
                open_in_chat(user, hit.conversation_id, hit.message_id)


def list_filters(models: list[str]) -> ListFilter:
    cols = st.columns([1, 1, 2, 2])
    pinned = cols[0].toggle("Pinned only", key="hist_pinned")
    archived = cols[1].toggle("Archive", key="hist_archived", help="Show archived conversations instead")
    model = cols[2].selectbox("Model", ["All", *models], key="hist_model")
    dates = cols[3].date_input("Updated between (UTC)", value=[], key="hist_dates")
    start = end = None
    if isinstance(dates, tuple) and len(dates) == 2:
        start = datetime.combine(dates[0], time(0), UTC)
        end = datetime.combine(dates[1], time(0), UTC) + timedelta(days=1)
    return ListFilter(pinned_only=pinned, archived=archived, model=None if model == "All" else model,
                      start=start, end=end)


def conversation_table(page: Page) -> list[int]:
    """The page of conversations; returns the ids of the selected rows."""
    rows = [{"title": r.conversation.title, "messages": r.messages, "model": r.conversation.model,
             "pinned": "📌" if r.conversation.pinned else "", "updated": r.conversation.updated_at} for r in page.rows]
    event = st.dataframe(rows, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
                         key=f"hist_table_{page.page}")
    return [page.rows[i].conversation.id for i in event.selection.rows]  # type: ignore[attr-defined]


def selection_actions(user: UserPublic, page: Page, selected: list[int]) -> None:
    if not selected:
        st.caption("Select conversations to open, rename, pin, archive, export or delete them.")
        return
    by_id = {r.conversation.id: r.conversation for r in page.rows}
    cols = st.columns(6)
    if len(selected) == 1 and cols[0].button("Open in Chat", key="hist_open", type="primary"):
        open_in_chat(user, selected[0])
    archived = all(by_id[i].archived for i in selected)
    pinned = all(by_id[i].pinned for i in selected)
    if cols[1].button("Unpin" if pinned else "Pin", key="hist_pin"):
        _done(lambda s: set_flags(session=s, user_id=user.id, conversation_ids=selected, pinned=not pinned))
    if cols[2].button("Unarchive" if archived else "Archive", key="hist_archive"):
        _done(lambda s: set_flags(session=s, user_id=user.id, conversation_ids=selected, archived=not archived))
    with cols[3].popover("Export"):
        json_doc = run_action(lambda s: export_json(session=s, user_id=user.id, conversation_ids=selected))
        md_doc = run_action(lambda s: export_markdown(session=s, user_id=user.id, conversation_ids=selected))
        st.download_button("JSON", json_doc or "", "parley-conversations.json", "application/json", key="hist_json")
        st.download_button("Markdown", md_doc or "", "parley-conversations.md", "text/markdown", key="hist_md")
    with cols[4].popover("Delete"):
        st.write(f"Delete {len(selected)} conversation(s)? They disappear now and are purged after "
                 f"{get_settings().history.retention_days} days.")
        if st.button("Delete", key="hist_delete_confirm", type="primary"):
            _done(lambda s: delete(session=s, user_id=user.id, conversation_ids=selected))
    if len(selected) == 1:
        with cols[5].popover("Rename"):
            title = st.text_input("Title", value=by_id[selected[0]].title, max_chars=200, key="hist_title")
            if st.button("Save", key="hist_rename"):
                _done(lambda s: rename(session=s, user_id=user.id, conversation_id=selected[0], title=title))


def _done(action) -> None:  # type: ignore[no-untyped-def]
    if run_action(lambda s: action(s) or True) is not None:
        st.rerun()


def export_all_and_import(user: UserPublic) -> None:
    left, right = st.columns(2)
    with left:
        st.subheader("Export everything")
        if st.button("Prepare export", key="hist_export_all"):
            doc = run_action(lambda s: export_json(session=s, user_id=user.id))
            if doc is not None:
                st.download_button("Download JSON", doc, "parley-export.json", "application/json",
                                   key="hist_export_all_dl")
    with right:
        st.subheader("Import")
        limit = get_settings().history.max_import_mb
        upload = st.file_uploader(f"A Parley export or ChatGPT conversations.json (up to {limit:g} MB)",
                                  type=["json"], key="hist_import")
        if upload is not None and st.button("Import", key="hist_import_go", type="primary"):
            count = run_action(lambda s: import_conversations(session=s, user_id=user.id, raw=upload.getvalue(),
                                                              max_bytes=int(limit * 1_000_000)))
            if count is not None:
                st.success(f"Imported {count} conversation(s).")
