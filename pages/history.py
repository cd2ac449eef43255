"""History: search everything you said, browse, organise, export and import your conversations."""

import streamlit as st

from core.config import get_settings
from core.history import list_conversations, search
from core.ui import auth
from core.ui import history_view as view
from core.ui.forms import run_action

user = auth.require_user()
st.title("History")
auth.show_flash()
query = st.text_input("Search titles and messages", key="history_query", max_chars=200,
                      placeholder="e.g. database, 데이터베이스 …")
if query.strip():
    hits = run_action(lambda s: search(session=s, user_id=user.id, query=query))
    if hits is not None:
        view.search_results(user, hits)
    st.stop()

settings = get_settings()
filters = view.list_filters(sorted({m for p in settings.providers.values() for m in p.models}))
page_no = st.session_state.get("hist_page", 1)
page = run_action(lambda s: list_conversations(session=s, user_id=user.id, filters=filters, page=page_no,
                                               page_size=settings.history.page_size))
if page is not None:
    st.caption(f"{page.total} conversation(s) · page {page.page} of {page.pages}")
    selected = view.conversation_table(page)
    view.selection_actions(user, page, selected)
    if page.pages > 1:
        st.number_input("Page", min_value=1, max_value=page.pages, key="hist_page")
view.export_all_and_import(user)
