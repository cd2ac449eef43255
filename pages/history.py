"""History: search everything you said, browse, organise, export and import your conversations."""

import streamlit as st

from core.config import get_settings
from core.history import list_conversations, search
from core.ui import auth
from core.ui import history_view as view
from core.ui.forms import run_action
from core.ui.i18n import t

user = auth.require_user()
st.title(t("nav.history"))
auth.show_flash()
query = st.text_input(t("history.search"), key="history_query", max_chars=200,
                      placeholder=t("history.search_placeholder"))
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
    st.caption(t("history.page_caption", total=page.total, page=page.page, pages=page.pages))
    selected = view.conversation_table(page)
    view.selection_actions(user, page, selected)
    if page.pages > 1:
        st.number_input(t("history.page"), min_value=1, max_value=page.pages, key="hist_page")
view.export_all_and_import(user)
