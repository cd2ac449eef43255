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
from core.ui.i18n import labels, t, tr


def open_in_chat(user: UserPublic, conversation_id: int, message_id: int | None = None) -> None:
    """Continue a conversation in Chat (at the search hit, when there is one)."""
    try:
        with session_scope() as session:
            conv, _ = read_conversation(session=session, user_id=user.id, conversation_id=conversation_id)
    except AppError as exc:
        st.error(tr(exc.user_message))
        return
    chat_view.open_conversation(conv)
    st.session_state[chat_view.FOCUS] = message_id
    st.switch_page("pages/chat.py")


def search_results(user: UserPublic, hits: list[Hit]) -> None:
    if not hits:
        st.info(t("history.nothing_found"))
        return
    st.caption(t("history.results", n=len(hits)))
    for i, hit in enumerate(hits):
        with st.container(border=True):
            cols = st.columns([6, 1])
            where = (t("history.in_title") if hit.message_id is None
                     else f"{t('history.role_' + hit.role)} · {hit.created_at:%Y-%m-%d %H:%M} UTC")
            cols[0].markdown(f"**{chat_view.escape_markdown(hit.title)}** · {where}\n\n{hit.snippet}")
            if cols[1].button(t("history.open"), key=f"hit_open_{i}"):
                open_in_chat(user, hit.conversation_id, hit.message_id)


def list_filters(models: list[str]) -> ListFilter:
    cols = st.columns([1, 1, 2, 2])
    pinned = cols[0].toggle(t("history.pinned_only"), key="hist_pinned")
    archived = cols[1].toggle(t("history.archive_toggle"), key="hist_archived", help=t("history.archive_help"))
    model = cols[2].selectbox(t("common.model"), ["", *models], key="hist_model",
                              format_func=labels({"": t("common.all")}))
    dates = cols[3].date_input(t("history.updated_between"), value=[], key="hist_dates")
    start = end = None
    if isinstance(dates, tuple) and len(dates) == 2:
        start = datetime.combine(dates[0], time(0), UTC)
        end = datetime.combine(dates[1], time(0), UTC) + timedelta(days=1)
    return ListFilter(pinned_only=pinned, archived=archived, model=model or None,
                      start=start, end=end)


def conversation_table(page: Page) -> list[int]:
    """The page of conversations; returns the ids of the selected rows."""
    rows = [{t("history.col_title"): r.conversation.title, t("history.col_messages"): r.messages,
             t("history.col_model"): r.conversation.model,
             t("history.col_pinned"): "📌" if r.conversation.pinned else "",
             t("history.col_updated"): r.conversation.updated_at} for r in page.rows]
    event = st.dataframe(rows, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
                         key=f"hist_table_{page.page}")
    return [page.rows[i].conversation.id for i in event.selection.rows]  # type: ignore[attr-defined]


def selection_actions(user: UserPublic, page: Page, selected: list[int]) -> None:
    if not selected:
        st.caption(t("history.select_hint"))
        return
    by_id = {r.conversation.id: r.conversation for r in page.rows}
    cols = st.columns(6)
    if len(selected) == 1 and cols[0].button(t("history.open_in_chat"), key="hist_open", type="primary"):
        open_in_chat(user, selected[0])
    archived = all(by_id[i].archived for i in selected)
    pinned = all(by_id[i].pinned for i in selected)
    if cols[1].button(t("history.unpin") if pinned else t("history.pin"), key="hist_pin"):
        _done(lambda s: set_flags(session=s, user_id=user.id, conversation_ids=selected, pinned=not pinned))
    if cols[2].button(t("history.unarchive") if archived else t("history.archive"), key="hist_archive"):
        _done(lambda s: set_flags(session=s, user_id=user.id, conversation_ids=selected, archived=not archived))
    with cols[3].popover(t("history.export")):
        json_doc = run_action(lambda s: export_json(session=s, user_id=user.id, conversation_ids=selected))
        md_doc = run_action(lambda s: export_markdown(session=s, user_id=user.id, conversation_ids=selected))
        st.download_button("JSON", json_doc or "", "parley-conversations.json", "application/json", key="hist_json")
        st.download_button("Markdown", md_doc or "", "parley-conversations.md", "text/markdown", key="hist_md")
    with cols[4].popover(t("common.delete")):
        st.write(t("history.delete_confirm", n=len(selected), days=get_settings().history.retention_days))
        if st.button(t("common.delete"), key="hist_delete_confirm", type="primary"):
            _done(lambda s: delete(session=s, user_id=user.id, conversation_ids=selected))
    if len(selected) == 1:
        with cols[5].popover(t("history.rename")):
            title = st.text_input(t("history.col_title"), value=by_id[selected[0]].title, max_chars=200,
                                  key="hist_title")
            if st.button(t("common.save"), key="hist_rename"):
                _done(lambda s: rename(session=s, user_id=user.id, conversation_id=selected[0], title=title))


def _done(action) -> None:  # type: ignore[no-untyped-def]
    if run_action(lambda s: action(s) or True) is not None:
        st.rerun()


def export_all_and_import(user: UserPublic) -> None:
    left, right = st.columns(2)
    with left:
        st.subheader(t("history.export_all"))
        if st.button(t("history.prepare_export"), key="hist_export_all"):
            doc = run_action(lambda s: export_json(session=s, user_id=user.id))
            if doc is not None:
                st.download_button(t("history.download_json"), doc, "parley-export.json", "application/json",
                                   key="hist_export_all_dl")
    with right:
        st.subheader(t("history.import"))
        limit = get_settings().history.max_import_mb
        upload = st.file_uploader(t("history.import_label", mb=f"{limit:g}"),
                                  type=["json"], key="hist_import")
        if upload is not None and st.button(t("history.import"), key="hist_import_go", type="primary"):
            count = run_action(lambda s: import_conversations(session=s, user_id=user.id, raw=upload.getvalue(),
                                                              max_bytes=int(limit * 1_000_000)))
            if count is not None:
                st.success(t("history.imported", n=count))
