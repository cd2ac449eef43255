"""Prices per model (USD per 1M tokens): config.yaml's catalog, overridden by admins on Admin → Models (audited).

Overrides are read through a short per-process cache, so pricing a call costs no query; a change reaches every
instance within CACHE_SECONDS (at once in the instance that made it).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlmodel import Session

from core.accounts import record_audit, require_admin
from core.config import Settings, get_settings
from core.db import get_engine
from core.errors import NotFound, ValidationError
from core.i18n import Msg
from core.model_catalog import lookup
from core.models import CatalogModel, PriceOverride, utcnow
from core.providers.base import Usage

CACHE_SECONDS = 5.0
PICO = 10**12  # pico-dollars per dollar: the unit of every budget counter
PRICE_MAX = 10_000.0  # USD per 1M tokens: far above any model's, far below a typo's


@dataclass(frozen=True)
class Price:
    price_in: float
    price_out: float
    price_cached_in: float | None = None  # None: cached input costs price_in
    overridden: bool = False

    def per_token_pico(self) -> tuple[int, int, int]:
        """(input, cached input, output) prices of one token in pico-dollars: a price per 1M tokens with up to six
        decimals is a whole number of pico-dollars per token, so every cost below is exact (no call's fraction of
        a cent is lost, however cheap: the budgets' counters add these integers)."""
        cached = self.price_in if self.price_cached_in is None else self.price_cached_in
        return round(self.price_in * 1e6), round(cached * 1e6), round(self.price_out * 1e6)

    def cost_pico(self, usage: Usage) -> int:
        """The call's cost in pico-dollars (10^-12 USD), exactly."""
        price_in, price_cached, price_out = self.per_token_pico()
        cached = min(usage.cached_in, usage.tokens_in)
        return (usage.tokens_in - cached) * price_in + cached * price_cached + usage.tokens_out * price_out

    def cost_usd(self, usage: Usage) -> float:
        return self.cost_pico(usage) / PICO


_cache: dict[str, tuple[float, dict[tuple[str, str], Price]]] = {}
_lock = threading.Lock()


def _overrides(engine: Engine) -> dict[tuple[str, str], Price]:
    key = engine.url.render_as_string(hide_password=True)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    with Session(engine) as session:
        rows = session.execute(select(PriceOverride)).scalars().all()
        found = {(r.provider, r.model): Price(r.price_in, r.price_out, r.price_cached_in, True) for r in rows}
    with _lock:
        _cache[key] = (now + CACHE_SECONDS, found)
    return found


def forget_prices() -> None:
    with _lock:
        _cache.clear()


def price_of(provider: str, model: str, settings: Settings | None = None, engine: Engine | None = None) -> Price | None:
    """The model's price now (an admin's override, else config.yaml's); None for a model not in the catalog (a
    disabled model keeps its price: a call that started before it was disabled is charged as it was held)."""
    settings = settings or get_settings()
    engine = engine or get_engine(settings)
    entry = lookup(settings, engine, provider, model)
    if entry is None:
        return None
    info = entry.info
    override = _overrides(engine).get((provider, model))
    if override is None and not entry.configured:  # a discovered model: priced a moment ago on another instance?
        forget_prices()
        override = _overrides(engine).get((provider, model))
    if override is None and not entry.configured:
        return None  # never priced: not offered (core.model_catalog), and never charged at $0
    return override or Price(info.price_in, info.price_out, info.price_cached_in)


def set_price(*, session: Session, actor_id: int, provider: str, model: str, price_in: float, price_out: float,
              price_cached_in: float | None = None, settings: Settings | None = None) -> None:
    """Price a catalog model, config.yaml's or discovered, over config.yaml's price (audited with the prices before
    and after)."""
    require_admin(session=session, actor_id=actor_id)
    settings = settings or get_settings()
    catalog = settings.providers.get(provider)
    configured = catalog is not None and (model in catalog.models or model in catalog.embedding_models)
    if not configured and session.get(CatalogModel, (provider, model)) is None:
        raise NotFound(Msg("prices.unknown_model", model=f"{provider}/{model}"[:200]))
    values = [price_in, price_out, *([] if price_cached_in is None else [price_cached_in])]
    if any(not 0 <= v <= PRICE_MAX for v in values):
        raise ValidationError(Msg("prices.out_of_range", max=f"{PRICE_MAX:,.0f}"))
    row = session.get(PriceOverride, (provider, model))
    before = (row.price_in, row.price_out, row.price_cached_in) if row else None
    row = row or PriceOverride(provider=provider, model=model, price_in=price_in, price_out=price_out)
    row.price_in, row.price_out, row.price_cached_in = price_in, price_out, price_cached_in
    row.updated_at, row.updated_by = utcnow(), actor_id
    session.add(row)
    record_audit(session=session, actor_id=actor_id, action="prices.set", target=f"{provider}/{model}",
                 detail={"before": before, "after": [price_in, price_out, price_cached_in]})
    session.commit()
    forget_prices()


def clear_price(*, session: Session, actor_id: int, provider: str, model: str,
                settings: Settings | None = None) -> bool:
    """Back to config.yaml's prices; False when there was no override. A discovered model has none: its price can
    go only while it is disabled."""
    require_admin(session=session, actor_id=actor_id)
    row = session.get(PriceOverride, (provider, model))
    if row is None:
        return False
    catalog = (settings or get_settings()).providers.get(provider)
    discovered = catalog is None or (model not in catalog.models and model not in catalog.embedding_models)
    listed = session.get(CatalogModel, (provider, model))
    if discovered and listed is not None and listed.enabled:  # config.yaml has no price to go back to
        raise ValidationError(Msg("catalog.price_needed", model=f"{provider}/{model}"[:200]))
    session.delete(row)
    record_audit(session=session, actor_id=actor_id, action="prices.clear", target=f"{provider}/{model}",
                 detail={"before": [row.price_in, row.price_out, row.price_cached_in]})
    session.commit()
    forget_prices()
    return True
