"""Feedback on replies (Monitoring): 👍 and 👎 by provider and model, the 👍 rate, and the latest comments."""

from __future__ import annotations

import streamlit as st

from core.ui.i18n import t
from core.usage import FeedbackStats, charts

RATING_ICONS = {1: "👍", -1: "👎"}


def feedback_panel(stats: FeedbackStats, tz: str) -> None:
    """Render the feedback of one range; a link opens only the viewer's own conversations."""
    st.subheader(t("feedback.title"))
    if not stats.by_model:
        st.caption(t("feedback.none"))
        return
    for column, (label, value) in zip(st.columns(3), (("up", f"{stats.up:,}"), ("down", f"{stats.down:,}"),
                                                      ("up_rate", f"{stats.up_rate:.0%}")), strict=True):
        column.metric(t(f"feedback.{label}"), value)
    left, right = st.columns(2)
    left.dataframe([{"provider": m.provider, "model": m.model, "up": m.up, "down": m.down, "rate": m.up_rate}
                    for m in stats.by_model], hide_index=True, width="stretch", key="feedback_by_model",
                   column_config={"provider": t("common.provider"), "model": t("common.model"),
                                  "up": t("feedback.up"), "down": t("feedback.down"),
                                  "rate": st.column_config.NumberColumn(t("feedback.up_rate"), format="percent")})
    rows = [(f"{m.provider} / {m.model}", m.up, m.down) for m in stats.by_model]
    right.plotly_chart(charts.feedback_bars(rows, t("feedback.chart"), t("feedback.up"), t("feedback.down")),
                       width="stretch", key="chart_feedback")
    _comments(stats, tz)


def _comments(stats: FeedbackStats, tz: str) -> None:
    st.markdown(f"**{t('feedback.latest_comments')}**")
    if not stats.comments:
        st.caption(t("feedback.no_comments"))
        return
    # A table, not Markdown: a comment is shown as typed, never rendered.
    st.dataframe([{"when": charts.local(c.when, tz), "user": c.user, "model": f"{c.provider} / {c.model}",
                   "rating": RATING_ICONS.get(c.rating, ""), "comment": c.comment,
                   "open": f"chat?c={c.conversation_id}" if c.conversation_id else None} for c in stats.comments],
                 hide_index=True, width="stretch", key="feedback_comments",
                 column_config={"when": st.column_config.DatetimeColumn(t("feedback.col_when"),
                                                                        format="YYYY-MM-DD HH:mm"),
                                "user": t("common.user"), "model": t("common.model"),
                                "rating": t("feedback.col_rating"),
                                "comment": st.column_config.TextColumn(t("feedback.col_comment"), width="large"),
                                "open": st.column_config.LinkColumn(t("feedback.col_open"),
                                                                    display_text=t("feedback.open"))})
