"""History: search everything you said, browse, organise, export and import your conversations."""

import streamlit as st

from core.config import get_settings
from core.db import get_engine
from core.history import export_json, export_markdown, list_conversations, search
from core.model_catalog import chat_model_names
from core.ui import history as view
from core.ui import state
from core.ui.actions import run_action, show_flash
from core.ui.auth.guards import require_user
from core.ui.i18n import t

user = require_user()
st.title(t("nav.history"))
show_flash()
query = st.text_input(t("history.search"), key="history_query", max_chars=200,
                      placeholder=t("history.search_placeholder"))
if query.strip():
    hits = run_action(lambda s: search(session=s, user_id=user.id, query=query))
    if hits is not None and (opened := view.search_results(hits)) is not None:
        view.perform(opened, user_id=user.id)
    st.stop()

settings = get_settings()
filters = view.list_filters(chat_model_names(settings, get_engine(settings)))
page_no = st.session_state.get(state.HISTORY_PAGE, 1)
page = run_action(lambda s: list_conversations(session=s, user_id=user.id, filters=filters, page=page_no,
                                               page_size=settings.history.page_size))
if page is not None:
    st.caption(t("history.page_caption", total=page.total, page=page.page, pages=page.pages))
    selected = view.conversation_table(page)
    exports = ("", "")
    if selected:  # the export popover offers the selection as files
        exports = (run_action(lambda s: export_json(session=s, user_id=user.id, conversation_ids=selected)) or "",
                   run_action(lambda s: export_markdown(session=s, user_id=user.id, conversation_ids=selected)) or "")
    if (asked := view.selection_actions(page, selected, exports)) is not None:
        view.perform(asked, user_id=user.id)
    if page.pages > 1:
        st.number_input(t("history.page"), min_value=1, max_value=page.pages, key=state.HISTORY_PAGE)
if (asked := view.export_all_and_import()) is not None:
    view.perform(asked, user_id=user.id)
