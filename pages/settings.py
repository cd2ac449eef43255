"""Settings: profile, password, and the user's own usage and limits."""

import streamlit as st

from core.metrics import UsageFilter, dashboard
from core.ui import auth
from core.ui import monitoring_view as usage_view
from core.ui.chat_view import quota_caption
from core.ui.forms import password_form, profile_form, run_action

user = auth.require_user()
st.title("Settings")
auth.show_flash()
profile_tab, password_tab, usage_tab = st.tabs(["Profile", "Password", "My usage"])
with profile_tab:
    profile_form(user)
with password_tab:
    password_form(user)
with usage_tab:
    quota_caption(user)
    start, end = usage_view.range_picker("me")
    mine = UsageFilter(start=start, end=end, user_id=user.id)
    data = run_action(lambda s: dashboard(session=s, actor_id=user.id, filters=mine))
    if data is not None:
        usage_view.kpi_tiles(data)
        usage_view.chart_grid(data, usage_view.viewer_timezone(), per_user=False)
