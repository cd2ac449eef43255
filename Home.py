"""Parley entry script: page config, login gate, then the pages this user's role may see."""

import streamlit as st

from core.ui import auth
from core.ui.nav import navigation_for
from core.ui.runtime import ensure_started

st.set_page_config(page_title="Parley", page_icon=":speech_balloon:", layout="wide")
ensure_started()

authenticator = auth.make_authenticator()  # once per run: its cookie manager has a fixed key
user = auth.current_user() or auth.login_from_cookie(authenticator)
auth.sync_cookie(authenticator)

if user is None:
    page = st.navigation([st.Page(auth.render_login, title="Log in", url_path="login")], position="hidden")
else:
    with st.sidebar:
        st.caption(f"Signed in as **{user.username}** · {user.role}")
    auth.logout_button()
    page = navigation_for(user)
page.run()
