"""Monitoring (admins): usage, cost, latency and errors; feedback on replies; CSV of the events; the audit trail."""

import streamlit as st

from core.accounts import audit_log, list_teams, list_users
from core.ui import monitoring as view
from core.ui.actions import run_action
from core.ui.auth.guards import require_admin
from core.ui.feedback_panel import feedback_panel
from core.ui.i18n import t
from core.usage import chargeback_csv, dashboard, events_csv, feedback_stats

admin = require_admin()
st.title(t("nav.monitoring"))
usage_tab, audit_tab = st.tabs([t("monitoring.tab_usage"), t("monitoring.tab_audit")], key="monitoring_tabs",
                               on_change="rerun")

with usage_tab:
    start, end = view.range_picker("mon")
    users = run_action(lambda s: list_users(session=s, actor_id=admin.id)) or []
    all_teams = run_action(lambda s: list_teams(session=s, actor_id=admin.id)) or []
    filters = view.filters(users, start, end, {tm.id: tm.name for tm in all_teams})
    data = run_action(lambda s: dashboard(session=s, actor_id=admin.id, filters=filters))
    if data is not None:
        tz = view.viewer_timezone()
        st.caption(t("monitoring.range_caption", start=f"{start:%Y-%m-%d %H:%M}", end=f"{end:%Y-%m-%d %H:%M}",
                     bucket=t(f"monitoring.bucket_{data.bucket}"), tz=tz))
        view.kpi_tiles(data)
        view.chart_grid(data, tz)
        view.top_users(data)
        feedback = run_action(lambda s: feedback_stats(session=s, actor_id=admin.id, filters=filters))
        if feedback is not None:
            feedback_panel(feedback, tz)
        if st.button(t("monitoring.prepare_csv"), key="mon_csv_prepare"):
            csv_text = run_action(lambda s: events_csv(session=s, actor_id=admin.id, filters=filters))
            if csv_text is not None:
                st.download_button(t("monitoring.download_csv"), csv_text, file_name="parley-usage.csv",
                                   mime="text/csv", key="mon_csv_download")
        st.subheader(t("teams.chargeback"))
        month = view.chargeback_month()
        if st.button(t("teams.chargeback_prepare"), key="chargeback_prepare"):
            chargeback = run_action(lambda s: chargeback_csv(session=s, actor_id=admin.id, month=month))
            if chargeback is not None:
                st.download_button(t("teams.chargeback_download"), chargeback, mime="text/csv",
                                   file_name=f"parley-chargeback-{month:%Y-%m}.csv", key="chargeback_download")

with audit_tab:
    criteria = view.audit_filters()
    entries = run_action(lambda s: audit_log(session=s, actor_id=admin.id, limit=500, **criteria)) or []
    view.audit_table(entries)
