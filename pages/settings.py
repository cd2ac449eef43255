"""Settings: profile, password, own provider keys, and the user's own usage and limits."""

import streamlit as st

from core.metrics import UsageFilter, dashboard
from core.ui import auth
from core.ui import monitoring_view as usage_view
from core.ui.chat_view import quota_caption
from core.ui.forms import password_form, profile_form, run_action
from core.ui.keys_view import key_panels
from core.ui.preferences_view import defaults_form, presets_editor

user = auth.require_user()
st.title("Settings")
auth.show_flash()
profile_tab, password_tab, defaults_tab, keys_tab, usage_tab = st.tabs(
    ["Profile", "Password", "Chat defaults", "Provider keys", "My usage"], key="settings_tabs", on_change="rerun")
with profile_tab:
    profile_form(user)
with password_tab:
    password_form(user)
with defaults_tab:
    defaults_form(user)
    presets_editor(user)
with keys_tab:
    st.caption("Your own keys are used for your chats before the organisation's. Nobody can read a key back, "
               "administrators included: it is stored encrypted and shown masked.")
    key_panels(user, org=False)
with usage_tab:
    quota_caption(user)
    start, end = usage_view.range_picker("me")
    mine = UsageFilter(start=start, end=end, user_id=user.id)
    data = run_action(lambda s: dashboard(session=s, actor_id=user.id, filters=mine))
    if data is not None:
        usage_view.kpi_tiles(data)
        usage_view.chart_grid(data, usage_view.viewer_timezone(), per_user=False)
