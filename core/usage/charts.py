"""Pure functions from dashboard data to Plotly figures. Buckets are UTC; display is in the viewer's zone."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go

LAYOUT: dict[str, Any] = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "height": 320,
                          "legend": {"orientation": "h", "y": -0.2}}


def local(bucket: datetime, tz: str) -> datetime:
    """A UTC bucket as wall time in tz (naive, for the axis)."""
    return bucket.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def _stacked(points: list[dict[str, Any]], group: str, value: str, title: str, tz: str) -> go.Figure:
    by_group: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for p in points:
        by_group[p[group]].append((local(p["bucket"], tz), p[value]))
    fig = go.Figure([go.Bar(name=name, x=[x for x, _ in xs], y=[y for _, y in xs])
                     for name, xs in sorted(by_group.items())])
    fig.update_layout(barmode="stack", title=f"{title} · {tz}", **LAYOUT)
    return fig


def requests_over_time(series: list[dict[str, Any]], tz: str = "UTC", title: str = "Requests by model") -> go.Figure:
    return _stacked(series, "model", "requests", title, tz)


def tokens_over_time(series: list[dict[str, Any]], tz: str = "UTC",
                     title: str = "Tokens (in + out) by model") -> go.Figure:
    points = [{**p, "tokens": p["tokens_in"] + p["tokens_out"]} for p in series]
    return _stacked(points, "model", "tokens", title, tz)


def cost_bars(items: list[tuple[str, float]], title: str, limit: int = 15) -> go.Figure:
    top = items[:limit]
    fig = go.Figure(go.Bar(x=[v for _, v in top][::-1], y=[k for k, _ in top][::-1], orientation="h"))
    fig.update_layout(title=title, xaxis_title="USD", **LAYOUT)
    return fig


def latency_over_time(latency: list[dict[str, Any]], tz: str = "UTC", approximate: bool = False,
                      title: str = "Time to first token", approx_note: str = "≈ from daily histograms") -> go.Figure:
    xs = [local(p["bucket"], tz) for p in latency]
    fig = go.Figure([go.Scatter(name="p50", x=xs, y=[p["p50"] for p in latency], mode="lines+markers"),
                     go.Scatter(name="p95", x=xs, y=[p["p95"] for p in latency], mode="lines+markers")])
    title = title + (f" ({approx_note})" if approximate else "") + f" · {tz}"
    fig.update_layout(title=title, yaxis_title="ms", **LAYOUT)
    return fig


def errors_over_time(errors: list[dict[str, Any]], tz: str = "UTC", title: str = "Errors by kind") -> go.Figure:
    return _stacked(errors, "kind", "count", title, tz)


def cost_by_team_over_time(points: list[dict[str, Any]], tz: str = "UTC", title: str = "Cost by team",
                           no_team: str = "No team") -> go.Figure:
    named = [{**p, "team": p["team"] or no_team} for p in points]
    fig = _stacked(named, "team", "cost", title, tz)
    fig.update_layout(yaxis_title="USD")
    return fig


def feedback_bars(rows: list[tuple[str, int, int]], title: str, up: str = "👍", down: str = "👎",
                  limit: int = 15) -> go.Figure:
    """👍 and 👎 per model, stacked horizontally (rows: label, ups, downs; most rated first)."""
    top = rows[:limit][::-1]
    labels = [label for label, _, _ in top]
    fig = go.Figure([go.Bar(name=up, x=[u for _, u, _ in top], y=labels, orientation="h"),
                     go.Bar(name=down, x=[d for _, _, d in top], y=labels, orientation="h")])
    fig.update_layout(barmode="stack", title=title, **LAYOUT)
    return fig
