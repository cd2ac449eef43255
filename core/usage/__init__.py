"""Usage: one record per provider call (or refusal), its cost, the per-user limits checked before a call,
admins' overrides, and what the dashboards and /metrics read from it."""

from core.usage import charts, leases
from core.usage.budget import Budgets, Standing
from core.usage.dashboard import Dashboard, Kpis, authorize, dashboard
from core.usage.export import chargeback_csv, events_csv
from core.usage.feedback_stats import FeedbackComment, FeedbackStats, ModelFeedback, feedback_stats
from core.usage.holds import Hold
from core.usage.limits import REQUEST_SCOPE, Quota, RateLimitService, request_counter
from core.usage.overrides import clear_user_limits, get_user_limits, set_user_limits
from core.usage.prices import Price, clear_price, forget_prices, price_of, set_price
from core.usage.query import UsageFilter
from core.usage.record import cost_usd, estimated_usage, record_usage

__all__ = [
    "REQUEST_SCOPE", "Budgets", "Dashboard", "FeedbackComment", "FeedbackStats", "Hold", "Kpis", "ModelFeedback",
    "Price", "Quota", "RateLimitService",
    "Standing", "UsageFilter", "clear_price", "forget_prices", "price_of", "set_price",
    "authorize", "chargeback_csv", "charts", "leases", "clear_user_limits", "cost_usd", "dashboard", "estimated_usage",
    "events_csv", "feedback_stats", "get_user_limits", "record_usage", "request_counter", "set_user_limits",
]
