"""Monitoring (admins): usage, cost, latency and errors; CSV of the events; the audit trail."""

import streamlit as st

from core.metrics import dashboard, events_csv
from core.ui import auth
from core.ui import monitoring_view as view
from core.ui.forms import run_action
from core.users import audit_log, list_users

admin = auth.require_admin()
st.title("Monitoring")
usage_tab, audit_tab = st.tabs(["Usage", "Audit log"], key="monitoring_tabs", on_change="rerun")

with usage_tab:
    start, end = view.range_picker("mon")
    users = run_action(lambda s: list_users(session=s, actor_id=admin.id)) or []
    filters = view.filters(users, start, end)
    data = run_action(lambda s: dashboard(session=s, actor_id=admin.id, filters=filters))
    if data is not None:
        tz = view.viewer_timezone()
        st.caption(f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC · "
                   f"{'hourly, exact' if data.bucket == 'hour' else 'daily (whole UTC days)'} · shown in {tz}")
        view.kpi_tiles(data)
        view.chart_grid(data, tz)
        view.top_users(data)
        if st.button("Prepare CSV of these events", key="mon_csv_prepare"):
            csv_text = run_action(lambda s: events_csv(session=s, actor_id=admin.id, filters=filters))
            if csv_text is not None:
                st.download_button("Download CSV", csv_text, file_name="parley-usage.csv", mime="text/csv",
                                   key="mon_csv_download")

with audit_tab:
    criteria = view.audit_filters()
    entries = run_action(lambda s: audit_log(session=s, actor_id=admin.id, limit=500, **criteria)) or []
    view.audit_table(entries)
