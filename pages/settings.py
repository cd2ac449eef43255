"""Settings: profile, password, language and theme, chat defaults, own provider keys, own usage and limits."""

import streamlit as st

from core.metrics import UsageFilter, dashboard
from core.ui import auth
from core.ui import monitoring_view as usage_view
from core.ui.chat_view import quota_caption
from core.ui.forms import password_form, profile_form, run_action
from core.ui.i18n import t
from core.ui.keys_view import key_panels
from core.ui.preferences_view import appearance_form, defaults_form, presets_editor

user = auth.require_user()
st.title(t("nav.settings"))
auth.show_flash()
profile_tab, password_tab, appearance_tab, defaults_tab, keys_tab, usage_tab = st.tabs(
    [t("settings.tab_profile"), t("settings.tab_password"), t("settings.tab_appearance"),
     t("settings.tab_defaults"), t("settings.tab_keys"), t("settings.tab_usage")],
    key="settings_tabs", on_change="rerun")
with profile_tab:
    profile_form(user)
with password_tab:
    password_form(user)
with appearance_tab:
    appearance_form(user)
with defaults_tab:
    defaults_form(user)
    presets_editor(user)
with keys_tab:
    st.caption(t("keys.own_intro"))
    key_panels(user, org=False)
with usage_tab:
    quota_caption(user)
    start, end = usage_view.range_picker("me")
    mine = UsageFilter(start=start, end=end, user_id=user.id)
    data = run_action(lambda s: dashboard(session=s, actor_id=user.id, filters=mine))
    if data is not None:
        usage_view.kpi_tiles(data)
        usage_view.chart_grid(data, usage_view.viewer_timezone(), per_user=False)
