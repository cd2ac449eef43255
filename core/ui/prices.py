"""One catalog model's price for admins (Admin → Models): set it (USD per 1M tokens) or go back to config.yaml's.
The page hands the request to perform()."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.ui.actions import rerun_after
from core.ui.i18n import t
from core.usage import Price, clear_price, set_price


@dataclass(frozen=True)
class PriceRequest:
    provider: str
    model: str
    price_in: float = 0.0
    price_out: float = 0.0
    price_cached_in: float | None = None
    clear: bool = False


def price_form(provider: str, model: str, current: Price | None) -> PriceRequest | None:
    """The model's prices (None: never priced, a discovered model) and the buttons to save them or drop the
    override."""
    suffix = f"{provider}_{model}"
    with st.form(f"price_form_{suffix}"):
        cols = st.columns(3)
        price_in = cols[0].number_input(t("prices.col_in"), min_value=0.0, step=0.05, format="%.4f",
                                        value=current.price_in if current else None, key=f"price_in_{suffix}")
        price_out = cols[1].number_input(t("prices.col_out"), min_value=0.0, step=0.05, format="%.4f",
                                         value=current.price_out if current else None, key=f"price_out_{suffix}")
        cached = cols[2].number_input(t("prices.col_cached"), min_value=0.0, step=0.05, format="%.4f",
                                      value=current.price_cached_in if current else None,
                                      placeholder=t("prices.same_as_input"), key=f"price_cached_{suffix}")
        buttons = st.columns([1, 1, 3])
        save = buttons[0].form_submit_button(t("prices.save"))
        back = buttons[1].form_submit_button(t("prices.use_config"), disabled=not (current and current.overridden))
    if save:
        if price_in is None or price_out is None:
            st.error(t("prices.both_needed"))
            return None
        return PriceRequest(provider, model, float(price_in), float(price_out),
                            None if cached is None else float(cached))
    return PriceRequest(provider, model, clear=True) if back else None


def perform(asked: PriceRequest, *, admin_id: int) -> None:
    name = f"{asked.provider}/{asked.model}"
    if asked.clear:
        rerun_after(lambda s: clear_price(session=s, actor_id=admin_id, provider=asked.provider, model=asked.model),
                    t("prices.cleared", model=name))
    else:
        rerun_after(lambda s: set_price(session=s, actor_id=admin_id, provider=asked.provider, model=asked.model,
                                        price_in=asked.price_in, price_out=asked.price_out,
                                        price_cached_in=asked.price_cached_in), t("prices.saved", model=name))
