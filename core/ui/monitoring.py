"""Monitoring widgets: range and filters, KPI tiles, charts, top users, CSV, audit log."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import streamlit as st

from core.config import get_settings
from core.db import get_engine
from core.model_catalog import chat_model_names
from core.models import AuditEventPublic, UserPublic
from core.ui.i18n import labels, t
from core.usage import Dashboard, UsageFilter, charts

PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def viewer_timezone() -> str:
    return st.context.timezone or "UTC"


def range_picker(key: str) -> tuple[datetime, datetime]:
    """24 h (hourly, exact) or whole UTC days: 7 d, 30 d or a custom range."""
    preset = st.segmented_control(t("monitoring.range"), [*PRESETS, "custom"], default="7d", key=f"{key}_range",
                                  format_func=labels({p: t(f"monitoring.range_{p}") for p in [*PRESETS, "custom"]}))
    now = datetime.now(UTC)
    if preset == "custom":
        today = now.date()
        picked = st.date_input(t("monitoring.dates"), (today - timedelta(days=13), today), key=f"{key}_dates")
        first, last = (picked if isinstance(picked, tuple) and len(picked) == 2 else (today, today))
        return _midnight(first), _midnight(last) + timedelta(days=1)
    span = PRESETS.get(preset or "7d", timedelta(days=7))
    if span <= timedelta(days=1):
        return now - span, now
    return _midnight(now.date()) - span + timedelta(days=1), _midnight(now.date()) + timedelta(days=1)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def filters(users: list[UserPublic], start: datetime, end: datetime,
            teams: dict[int, str] | None = None) -> UsageFilter:
    settings = get_settings()
    models = chat_model_names(settings, get_engine(settings))
    cols = st.columns(5)
    by_name = {u.username: u.id for u in users}
    every = labels({"": t("common.all")})
    user = cols[0].selectbox(t("common.user"), ["", *by_name], key="mon_user", format_func=every)
    model = cols[1].selectbox(t("common.model"), ["", *models], key="mon_model", format_func=every)
    provider = cols[2].selectbox(t("common.provider"), ["", *settings.providers], key="mon_provider", format_func=every)
    source = cols[3].selectbox(t("monitoring.source"), ["", "ui", "api"], key="mon_source", format_func=every)
    team_labels = {-1: t("common.all"), 0: t("teams.none"), **(teams or {})}
    team = cols[4].selectbox(t("teams.filter"), list(team_labels), key="mon_team", format_func=labels(team_labels))
    return UsageFilter(start=start, end=end, user_id=by_name.get(user), model=model or None,
                       provider=provider or None, source=source or None, team_id=None if team == -1 else team)


def kpi_tiles(d: Dashboard) -> None:
    k = d.kpis
    approx = "≈ " if d.approximate else ""
    tiles = [
        ("requests", f"{k.requests:,}"), ("active_users", f"{k.active_users:,}"),
        ("tokens_in", _compact(k.tokens_in)), ("tokens_out", _compact(k.tokens_out)),
        ("cost", f"${k.cost_usd:,.2f}"), ("error_rate", f"{k.error_rate:.1%}"),
        ("ttft_p50", f"{approx}{k.ttft_p50_ms:,.0f} ms" if k.ttft_p50_ms is not None else "–"),
        ("ttft_p95", f"{approx}{k.ttft_p95_ms:,.0f} ms" if k.ttft_p95_ms is not None else "–"),
        ("refusals", f"{k.refusals:,}"), ("cache_hit_rate", f"{k.cache_hit_rate:.1%}"),
    ]
    for row in (tiles[:5], tiles[5:]):
        for column, (label, value) in zip(st.columns(5), row, strict=True):
            column.metric(t(f"kpi.{label}"), value)


def _compact(n: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def chart_grid(d: Dashboard, tz: str, *, per_user: bool = True) -> None:
    left, right = st.columns(2)
    left.plotly_chart(charts.requests_over_time(d.series, tz, t("charts.requests")), width="stretch",
                      key="chart_requests")
    right.plotly_chart(charts.tokens_over_time(d.series, tz, t("charts.tokens")), width="stretch", key="chart_tokens")
    left, right = st.columns(2)
    if per_user:
        left.plotly_chart(charts.cost_bars(d.cost_by_user, t("charts.cost_by_user")), width="stretch",
                          key="chart_cost_user")
    right.plotly_chart(charts.cost_bars(d.cost_by_model, t("charts.cost_by_model")), width="stretch",
                       key="chart_cost_model")
    if per_user and d.cost_by_team:
        st.plotly_chart(charts.cost_by_team_over_time(d.cost_by_team, tz, t("teams.cost_by_team"), t("teams.none")),
                        width="stretch", key="chart_cost_team")
    left, right = st.columns(2)
    latency = charts.latency_over_time(d.latency, tz, d.approximate, t("charts.ttft"), t("charts.approx_note"))
    left.plotly_chart(latency, width="stretch", key="chart_latency")
    right.plotly_chart(charts.errors_over_time(d.errors, tz, t("charts.errors")), width="stretch", key="chart_errors")


def chargeback_month() -> date:
    """The UTC month a chargeback covers (this month or one of the eleven before it)."""
    today = datetime.now(UTC).date().replace(day=1)
    months = [today]
    for _ in range(11):
        months.append((months[-1] - timedelta(days=1)).replace(day=1))
    return st.selectbox(t("teams.chargeback_month"), months, key="chargeback_month", format_func=lambda m: f"{m:%Y-%m}")


def top_users(d: Dashboard) -> None:
    st.subheader(t("monitoring.top_users"))
    st.dataframe(d.top_users, hide_index=True, width="stretch", key="top_users",
                 column_config={"user": t("common.user"), "requests": t("kpi.requests"),
                                "tokens": t("monitoring.col_tokens"),
                                "errors": t("monitoring.col_errors"), "refusals": t("kpi.refusals"),
                                "cost_usd": st.column_config.NumberColumn(t("monitoring.col_cost"), format="$%.4f")})


def audit_filters() -> dict[str, object]:
    cols = st.columns(4)
    action = cols[0].selectbox(t("audit.action"), ["", "user.", "limits.", "keys.", "policy."], key="audit_action",
                               format_func=labels({"": t("common.all")}))
    actor = cols[1].text_input(t("audit.actor"), key="audit_actor", max_chars=32)
    target = cols[2].text_input(t("audit.target"), key="audit_target", max_chars=64)
    since = cols[3].date_input(t("audit.since"), value=None, key="audit_since")
    return {"action": action or None, "actor": actor or None, "target": target or None,
            "start": _midnight(since) if since else None}


def audit_table(entries: list[AuditEventPublic]) -> None:
    st.caption(t("audit.caption", n=len(entries)))
    st.dataframe([{t("audit.col_when"): e.created_at, t("audit.col_actor"): e.actor or t("audit.system"),
                   t("audit.col_action"): e.action, t("audit.col_target"): e.target, t("audit.col_detail"): e.detail}
                  for e in entries], hide_index=True, width="stretch", key="audit_table")
