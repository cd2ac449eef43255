"""Knowledge: your knowledge bases and those shared with you; upload documents, and read the passages answers cite."""

import streamlit as st

from core.accounts import teams_of
from core.knowledge import list_knowledge_bases
from core.ui import knowledge as view
from core.ui.actions import run_action, show_flash
from core.ui.auth.guards import require_user
from core.ui.i18n import t

user = require_user()
st.title(t("nav.knowledge"))
show_flash()
if view.cited_document(user):  # opened from a citation: the document at the cited passage
    st.divider()
bases = run_action(lambda s: list_knowledge_bases(session=s, user_id=user.id)) or []
kb = view.pick(bases, user)
if kb is not None:
    view.description(kb)
    if kb.owner_id == user.id:
        view.upload(kb, user)
    view.documents(kb, user)
    view.manage(kb, user, run_action(lambda s: [(tm.id or 0, tm.name) for tm in teams_of(session=s,
                                                                                       user_id=kb.owner_id)]) or [])
