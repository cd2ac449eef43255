"""Prometheus metrics for /metrics: requests, tokens, errors and latency by provider and model.

No user names as labels (cardinality and privacy). Each process exposes its own counters; Prometheus
sums them across instances.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry()
_LABELS = ["provider", "model"]
REQUESTS = Counter("parley_llm_requests", "Provider calls and refusals by outcome", [*_LABELS, "status"],
                   registry=REGISTRY)
TOKENS = Counter("parley_llm_tokens", "Tokens by direction", [*_LABELS, "direction"], registry=REGISTRY)
ERRORS = Counter("parley_llm_errors", "Failed provider calls by kind", [*_LABELS, "kind"], registry=REGISTRY)
CACHE_HITS = Counter("parley_llm_cache_hits", "Replies served from the response cache", _LABELS,
                     registry=REGISTRY)
COST = Counter("parley_llm_cost_usd", "Cost in USD from the price table", _LABELS, registry=REGISTRY)
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
TTFT = Histogram("parley_llm_time_to_first_token_seconds", "Time to first token", _LABELS, buckets=_BUCKETS,
                 registry=REGISTRY)
DURATION = Histogram("parley_llm_request_duration_seconds", "Total time of a provider call", _LABELS,
                     buckets=_BUCKETS, registry=REGISTRY)


def observe(*, provider: str, model: str, status: str, tokens_in: int, tokens_out: int, cost_usd: float,
            error_kind: str | None, cache_hit: bool, ttft_ms: float | None, total_ms: float | None) -> None:
    """Count one usage event."""
    REQUESTS.labels(provider, model, status).inc()
    TOKENS.labels(provider, model, "in").inc(tokens_in)
    TOKENS.labels(provider, model, "out").inc(tokens_out)
    COST.labels(provider, model).inc(cost_usd)
    if error_kind and status in {"error", "interrupted"} and error_kind != "stopped":
        ERRORS.labels(provider, model, error_kind).inc()
    if cache_hit:
        CACHE_HITS.labels(provider, model).inc()
    if ttft_ms is not None and not cache_hit:
        TTFT.labels(provider, model).observe(ttft_ms / 1000)
    if total_ms is not None:
        DURATION.labels(provider, model).observe(total_ms / 1000)


def render() -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
