"""Prices for admins: every catalog model's price (config.yaml's, and the override in force), and a form to
override one or go back to config.yaml's. The page hands the request to perform()."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.ui.actions import rerun_after
from core.ui.i18n import t
from core.usage import PriceRow, clear_price, set_price


@dataclass(frozen=True)
class PriceRequest:
    provider: str
    model: str
    price_in: float = 0.0
    price_out: float = 0.0
    price_cached_in: float | None = None
    clear: bool = False


def _usd(value: float | None) -> str:
    return "–" if value is None else f"${value:,.4g}"


def price_table(rows: list[PriceRow]) -> None:
    st.dataframe([{t("common.provider"): r.provider, t("common.model"): r.model,
                   t("prices.col_in"): _usd(r.effective.price_in), t("prices.col_out"): _usd(r.effective.price_out),
                   t("prices.col_cached"): _usd(r.effective.price_cached_in),
                   t("prices.col_source"): t("prices.overridden") if r.effective.overridden else t("prices.config")}
                  for r in rows], hide_index=True, width="stretch", key="prices_table")


def price_form(rows: list[PriceRow]) -> PriceRequest | None:
    """Pick a model, set its prices (USD per 1M tokens) or return it to config.yaml's."""
    by_id = {f"{r.provider}/{r.model}": r for r in rows}
    picked = by_id[st.selectbox(t("prices.model"), list(by_id), key="price_model")]
    current = picked.effective
    with st.form(f"price_form_{picked.provider}_{picked.model}"):
        cols = st.columns(3)
        price_in = cols[0].number_input(t("prices.col_in"), min_value=0.0, value=current.price_in, step=0.05,
                                        format="%.4f", key=f"price_in_{picked.provider}_{picked.model}")
        price_out = cols[1].number_input(t("prices.col_out"), min_value=0.0, value=current.price_out, step=0.05,
                                         format="%.4f", key=f"price_out_{picked.provider}_{picked.model}")
        cached = cols[2].number_input(t("prices.col_cached"), min_value=0.0, value=current.price_cached_in,
                                      step=0.05, format="%.4f", placeholder=t("prices.same_as_input"),
                                      key=f"price_cached_{picked.provider}_{picked.model}")
        buttons = st.columns([1, 1, 3])
        save = buttons[0].form_submit_button(t("prices.save"), type="primary")
        back = buttons[1].form_submit_button(t("prices.use_config"), disabled=not current.overridden)
    if save:
        return PriceRequest(picked.provider, picked.model, float(price_in), float(price_out),
                            None if cached is None else float(cached))
    return PriceRequest(picked.provider, picked.model, clear=True) if back else None


def perform(asked: PriceRequest, *, admin_id: int) -> None:
    name = f"{asked.provider}/{asked.model}"
    if asked.clear:
        rerun_after(lambda s: clear_price(session=s, actor_id=admin_id, provider=asked.provider, model=asked.model),
                    t("prices.cleared", model=name))
    else:
        rerun_after(lambda s: set_price(session=s, actor_id=admin_id, provider=asked.provider, model=asked.model,
                                        price_in=asked.price_in, price_out=asked.price_out,
                                        price_cached_in=asked.price_cached_in), t("prices.saved", model=name))
