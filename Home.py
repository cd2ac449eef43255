"""Parley entry script: page config, login gate, then the pages this user's role may see."""

import streamlit as st

from core.ui import i18n
from core.ui.auth.cookie import login_from_cookie, make_authenticator, sync_cookie
from core.ui.auth.guards import current_user
from core.ui.auth.login import logout_button, render_login
from core.ui.i18n import t
from core.ui.nav import navigation_for, page_paths
from core.ui.runtime import ensure_started

st.set_page_config(page_title="Parley", page_icon=":speech_balloon:", layout="wide")
ensure_started()

authenticator = make_authenticator()  # once per run: its cookie manager has a fixed key
user = current_user() or login_from_cookie(authenticator)
cookie_ready = sync_cookie(authenticator)

if user is None:
    page = st.navigation([st.Page(render_login, title=t("login.tab"), url_path="login")], position="hidden")
else:
    with st.sidebar:
        st.caption(t("nav.signed_in", username=user.username, role=t(f"roles.{user.role}")))
    logout_button()
    page = navigation_for(user)
    with st.sidebar:
        i18n.apply_theme(page_paths(user), ready=cookie_ready)
page.run()
