"""Parley entry script: page config, login gate, then the pages this user's role may see."""

import streamlit as st

from core.ui import auth, i18n
from core.ui.i18n import t
from core.ui.nav import navigation_for, page_paths
from core.ui.runtime import ensure_started

st.set_page_config(page_title="Parley", page_icon=":speech_balloon:", layout="wide")
ensure_started()

authenticator = auth.make_authenticator()  # once per run: its cookie manager has a fixed key
user = auth.current_user() or auth.login_from_cookie(authenticator)
cookie_ready = auth.sync_cookie(authenticator)

if user is None:
    page = st.navigation([st.Page(auth.render_login, title=t("login.tab"), url_path="login")], position="hidden")
else:
    with st.sidebar:
        st.caption(t("nav.signed_in", username=user.username, role=t(f"roles.{user.role}")))
    auth.logout_button()
    page = navigation_for(user)
    with st.sidebar:
        i18n.apply_theme(page_paths(user), ready=cookie_ready)
page.run()
