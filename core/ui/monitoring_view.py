"""Monitoring widgets: range and filters, KPI tiles, charts, top users, CSV, audit log."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import streamlit as st

from core import charts
from core.config import get_settings
from core.metrics import Dashboard, UsageFilter
from core.models import AuditEventPublic, UserPublic

PRESETS = {"24 h": timedelta(hours=24), "7 d": timedelta(days=7), "30 d": timedelta(days=30)}


def viewer_timezone() -> str:
    return st.context.timezone or "UTC"


def range_picker(key: str) -> tuple[datetime, datetime]:
    """24 h (hourly, exact) or whole UTC days: 7 d, 30 d or a custom range."""
    preset = st.segmented_control("Range", [*PRESETS, "Custom"], default="7 d", key=f"{key}_range")
    now = datetime.now(UTC)
    if preset == "Custom":
        today = now.date()
        picked = st.date_input("Dates (UTC)", (today - timedelta(days=13), today), key=f"{key}_dates")
        first, last = (picked if isinstance(picked, tuple) and len(picked) == 2 else (today, today))
        return _midnight(first), _midnight(last) + timedelta(days=1)
    span = PRESETS.get(preset or "7 d", timedelta(days=7))
    if span <= timedelta(days=1):
        return now - span, now
    return _midnight(now.date()) - span + timedelta(days=1), _midnight(now.date()) + timedelta(days=1)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def filters(users: list[UserPublic], start: datetime, end: datetime) -> UsageFilter:
    settings = get_settings()
    models = sorted({m for p in settings.providers.values() for m in p.models})
    cols = st.columns(4)
    by_name = {u.username: u.id for u in users}
    user = cols[0].selectbox("User", ["All", *by_name], key="mon_user")
    model = cols[1].selectbox("Model", ["All", *models], key="mon_model")
    provider = cols[2].selectbox("Provider", ["All", *settings.providers], key="mon_provider")
    source = cols[3].selectbox("Source", ["All", "ui", "api"], key="mon_source")
    pick = lambda v: None if v == "All" else v  # noqa: E731
    return UsageFilter(start=start, end=end, user_id=by_name.get(user), model=pick(model),
                       provider=pick(provider), source=pick(source))


def kpi_tiles(d: Dashboard) -> None:
    k = d.kpis
    approx = "≈ " if d.approximate else ""
    tiles = [
        ("Requests", f"{k.requests:,}"), ("Active users", f"{k.active_users:,}"),
        ("Tokens in", _compact(k.tokens_in)), ("Tokens out", _compact(k.tokens_out)),
        ("Cost", f"${k.cost_usd:,.2f}"), ("Error rate", f"{k.error_rate:.1%}"),
        ("TTFT p50", f"{approx}{k.ttft_p50_ms:,.0f} ms" if k.ttft_p50_ms is not None else "–"),
        ("TTFT p95", f"{approx}{k.ttft_p95_ms:,.0f} ms" if k.ttft_p95_ms is not None else "–"),
        ("Rate-limit refusals", f"{k.refusals:,}"), ("Cache hit rate", f"{k.cache_hit_rate:.1%}"),
    ]
    for row in (tiles[:5], tiles[5:]):
        for column, (label, value) in zip(st.columns(5), row, strict=True):
            column.metric(label, value)


def _compact(n: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def chart_grid(d: Dashboard, tz: str, *, per_user: bool = True) -> None:
    left, right = st.columns(2)
    left.plotly_chart(charts.requests_over_time(d.series, tz), width="stretch", key="chart_requests")
    right.plotly_chart(charts.tokens_over_time(d.series, tz), width="stretch", key="chart_tokens")
    left, right = st.columns(2)
    if per_user:
        left.plotly_chart(charts.cost_bars(d.cost_by_user, "Cost by user"), width="stretch", key="chart_cost_user")
    right.plotly_chart(charts.cost_bars(d.cost_by_model, "Cost by model"), width="stretch", key="chart_cost_model")
    left, right = st.columns(2)
    left.plotly_chart(charts.latency_over_time(d.latency, tz, d.approximate), width="stretch", key="chart_latency")
    right.plotly_chart(charts.errors_over_time(d.errors, tz), width="stretch", key="chart_errors")


def top_users(d: Dashboard) -> None:
    st.subheader("Top users")
    st.dataframe(d.top_users, hide_index=True, width="stretch", key="top_users",
                 column_config={"cost_usd": st.column_config.NumberColumn("cost (USD)", format="$%.4f")})


def audit_filters() -> dict[str, object]:
    cols = st.columns(4)
    action = cols[0].selectbox("Action", ["All", "user.", "limits.", "keys.", "policy."], key="audit_action")
    actor = cols[1].text_input("Actor (username)", key="audit_actor", max_chars=32)
    target = cols[2].text_input("Target contains", key="audit_target", max_chars=64)
    since = cols[3].date_input("Since (UTC)", value=None, key="audit_since")
    return {"action": None if action == "All" else action, "actor": actor or None, "target": target or None,
            "start": _midnight(since) if since else None}


def audit_table(entries: list[AuditEventPublic]) -> None:
    st.caption(f"{len(entries)} entries, newest first. Entries are written by the actions themselves and "
               "cannot be edited here.")
    st.dataframe([{"when": e.created_at, "actor": e.actor or "system", "action": e.action, "target": e.target,
                   "detail": e.detail} for e in entries], hide_index=True, width="stretch", key="audit_table")
