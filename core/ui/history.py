"""History widgets: search with snippets, the conversation table with bulk actions, export and import.

Each returns what the user asked for (a HistoryRequest); the History page hands it to perform().
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal

import streamlit as st

from core.config import get_settings
from core.history import (
    Hit,
    ListFilter,
    Page,
    delete,
    export_json,
    import_conversations,
    read_conversation,
    rename,
    set_flags,
)
from core.ui import state
from core.ui.actions import rerun_after, run_action
from core.ui.chat.sidebar import open_conversation
from core.ui.i18n import labels, t
from core.validation import escape_markdown


@dataclass(frozen=True)
class HistoryRequest:
    action: Literal["open", "pin", "archive", "delete", "rename", "import", "export_all"]
    conversation_ids: tuple[int, ...] = ()
    message_id: int | None = None  # open: the search hit to show
    flag: bool = False  # pin / archive: the new value
    title: str = ""
    upload: bytes = b""


def search_results(hits: list[Hit]) -> HistoryRequest | None:
    """The hits with their snippets; the hit to open, when one is picked."""
    if not hits:
        st.info(t("history.nothing_found"))
        return None
    st.caption(t("history.results", n=len(hits)))
    asked = None
    for i, hit in enumerate(hits):
        with st.container(border=True):
            cols = st.columns([6, 1])
            where = (t("history.in_title") if hit.message_id is None
                     else f"{t('history.role_' + hit.role)} · {hit.created_at:%Y-%m-%d %H:%M} UTC")
            cols[0].markdown(f"**{escape_markdown(hit.title)}** · {where}\n\n{hit.snippet}")
            if cols[1].button(t("history.open"), key=f"hit_open_{i}"):
                asked = HistoryRequest("open", (hit.conversation_id,), message_id=hit.message_id)
    return asked


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


def selection_actions(page: Page, selected: list[int], exports: tuple[str, str]) -> HistoryRequest | None:
    """Open, pin, archive, export (JSON, Markdown), delete or rename the selected conversations."""
    if not selected:
        st.caption(t("history.select_hint"))
        return None
    by_id = {r.conversation.id: r.conversation for r in page.rows}
    ids, asked = tuple(selected), None
    cols = st.columns(6)
    if len(selected) == 1 and cols[0].button(t("history.open_in_chat"), key="hist_open", type="primary"):
        asked = HistoryRequest("open", ids)
    archived = all(by_id[i].archived for i in selected)
    pinned = all(by_id[i].pinned for i in selected)
    if cols[1].button(t("history.unpin") if pinned else t("history.pin"), key="hist_pin"):
        asked = HistoryRequest("pin", ids, flag=not pinned)
    if cols[2].button(t("history.unarchive") if archived else t("history.archive"), key="hist_archive"):
        asked = HistoryRequest("archive", ids, flag=not archived)
    with cols[3].popover(t("history.export")):
        st.download_button("JSON", exports[0], "parley-conversations.json", "application/json", key="hist_json")
        st.download_button("Markdown", exports[1], "parley-conversations.md", "text/markdown", key="hist_md")
    with cols[4].popover(t("common.delete")):
        st.write(t("history.delete_confirm", n=len(selected), days=get_settings().history.retention_days))
        if st.button(t("common.delete"), key="hist_delete_confirm", type="primary"):
            asked = HistoryRequest("delete", ids)
    if len(selected) == 1:
        with cols[5].popover(t("history.rename")):
            title = st.text_input(t("history.col_title"), value=by_id[selected[0]].title, max_chars=200,
                                  key="hist_title")
            if st.button(t("common.save"), key="hist_rename"):
                asked = HistoryRequest("rename", ids, title=title)
    return asked


def export_all_and_import() -> HistoryRequest | None:
    """Export everything (prepared on request), import a file; what the user asked for, if anything."""
    left, right = st.columns(2)
    asked = None
    with left:
        st.subheader(t("history.export_all"))
        if st.button(t("history.prepare_export"), key="hist_export_all"):
            asked = HistoryRequest("export_all")
    with right:
        st.subheader(t("history.import"))
        limit = get_settings().history.max_import_mb
        upload = st.file_uploader(t("history.import_label", mb=f"{limit:g}"), type=["json"], key="hist_import")
        if upload is not None and st.button(t("history.import"), key="hist_import_go", type="primary"):
            asked = HistoryRequest("import", upload=upload.getvalue())
    return asked


def perform(asked: HistoryRequest, *, user_id: int) -> None:
    """Carry out a history request (an export of everything is offered as a download)."""
    ids = list(asked.conversation_ids)
    if asked.action == "open":
        found = run_action(lambda s: read_conversation(session=s, user_id=user_id, conversation_id=ids[0]))
        if found is not None:  # continue it in Chat, at the search hit when there is one
            open_conversation(found[0], focus=asked.message_id)
            st.switch_page("pages/chat.py")
    elif asked.action == "pin":
        rerun_after(lambda s: set_flags(session=s, user_id=user_id, conversation_ids=ids, pinned=asked.flag))
    elif asked.action == "archive":
        rerun_after(lambda s: set_flags(session=s, user_id=user_id, conversation_ids=ids, archived=asked.flag))
    elif asked.action == "delete":
        rerun_after(lambda s: delete(session=s, user_id=user_id, conversation_ids=ids))
    elif asked.action == "rename":
        rerun_after(lambda s: rename(session=s, user_id=user_id, conversation_id=ids[0], title=asked.title))
    elif asked.action == "export_all":
        document = run_action(lambda s: export_json(session=s, user_id=user_id))
        if document is not None:
            st.download_button(t("history.download_json"), document, "parley-export.json", "application/json",
                               key="hist_export_all_dl")
    elif asked.action == "import":
        limit = int(get_settings().history.max_import_mb * 1_000_000)
        count = run_action(lambda s: import_conversations(session=s, user_id=user_id, raw=asked.upload,
                                                          max_bytes=limit))
        if count is not None:  # the list is drawn again with them (the message shown after the rerun)
            st.session_state[state.FLASH] = t("history.imported", n=count)
            st.rerun()
