"""Settings: the user's profile and password."""

import streamlit as st

from core.ui import auth
from core.ui.forms import password_form, profile_form

user = auth.require_user()
st.title("Settings")
auth.show_flash()
profile_tab, password_tab = st.tabs(["Profile", "Password"])
with profile_tab:
    profile_form(user)
with password_tab:
    password_form(user)
