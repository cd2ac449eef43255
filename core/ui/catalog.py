"""Admin → Models: the catalog's table, discovery (started here, run on a thread; this tab follows it until it ends),
and one model's settings and price. The page hands each request to perform()."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import streamlit as st

from core.catalog import CatalogRow, ModelSettings, reset_model, running, set_enabled, start_discovery, update_model
from core.config import get_settings
from core.db import get_engine
from core.models import DiscoveryRun, as_utc, utcnow
from core.ui import prices, state
from core.ui.actions import rerun_after, run_action
from core.ui.i18n import labels, t
from core.validation import escape_markdown

KEY = "catalog_model"
SAID = {None: "catalog.cap_default", True: "catalog.cap_yes", False: "catalog.cap_no"}
KIND = {"chat": "catalog.kind_chat", "embedding": "catalog.kind_embedding"}
CAPABILITIES = (("vision", "catalog.col_vision"), ("tools", "catalog.col_tools"), ("json_mode", "catalog.col_json"))


@dataclass(frozen=True)
class CatalogRequest:
    action: str  # discover | enable | disable | save | reset
    provider: str = ""
    model: str = ""
    change: ModelSettings | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _ago(when: datetime | None) -> str:
    if when is None:
        return "–"
    minutes = int((utcnow() - as_utc(when)).total_seconds() // 60)
    if minutes < 1:
        return t("catalog.just_now")
    return t("catalog.minutes_ago", n=minutes) if minutes < 120 else t("catalog.hours_ago", n=minutes // 60)


def discovery(runs: list[DiscoveryRun], running: bool) -> CatalogRequest | None:
    """Each provider's last discovery and a button to ask them all now; while a run goes on, this part of the page
    follows it every two seconds and shows the table again when it ends."""
    if st.button(t("catalog.discover"), key="catalog_discover", disabled=running, help=t("catalog.discover_help")):
        return CatalogRequest("discover")
    if running:
        _follow()
    for run in runs:
        if run.finished_at is None:
            st.caption(t("catalog.run_going", provider=run.provider, since=_ago(run.started_at)))
        elif run.error:
            st.caption(t("catalog.run_failed", provider=run.provider, when=_ago(run.finished_at),
                         error=escape_markdown(run.error)))
        else:
            st.caption(t("catalog.run_done", provider=run.provider, when=_ago(run.finished_at), found=run.found,
                         added=run.added))
    return None


@st.fragment(run_every=2)
def _follow() -> None:
    if not run_action(running, quiet=True):
        st.rerun(scope="app")
    st.caption(t("catalog.discovering"))


def _caps(row: CatalogRow) -> str:
    names = {**dict(CAPABILITIES), "embeddings": "catalog.col_embeddings"}
    return ", ".join(t(names[c]) for c in row.capabilities) or "–"


def table(rows: list[CatalogRow]) -> None:
    def usd(value: float | None) -> str:
        return "–" if value is None else f"${value:,.4g}"

    source = {(True, False): "catalog.source_config", (True, True): "catalog.source_changed",
              (False, False): "catalog.source_discovered", (False, True): "catalog.source_discovered"}
    st.dataframe([{t("catalog.col_enabled"): r.entry.enabled, t("common.model"): r.entry.id,
                   t("catalog.col_name"): r.entry.info.display_name,
                   t("catalog.col_context"): r.entry.info.context_window, t("catalog.col_caps"): _caps(r),
                   t("prices.col_in"): usd(r.price.price_in if r.price else None),
                   t("prices.col_out"): usd(r.price.price_out if r.price else None),
                   t("catalog.col_source"): t(source[(r.entry.configured, r.changed)]),
                   t("catalog.col_seen"): _ago(r.entry.seen_at)} for r in rows],
                 hide_index=True, width="stretch", key="catalog_table")


def pick(rows: list[CatalogRow]) -> CatalogRow | None:
    by_id = {r.entry.id: r for r in rows}
    if not by_id:
        return None
    return by_id[st.selectbox(t("catalog.pick"), list(by_id), key=KEY)]


def actions(row: CatalogRow) -> CatalogRequest | None:
    """Enable or disable at once, back to config.yaml's settings; the settings form; the price form."""
    entry = row.entry
    cols = st.columns([1, 1, 3])
    if entry.enabled and cols[0].button(t("catalog.disable"), key="catalog_disable"):
        return CatalogRequest("disable", entry.provider, entry.model)
    if not entry.enabled and cols[0].button(t("catalog.enable"), key="catalog_enable", type="primary",
                                            disabled=row.price is None, help=None if row.price else t(
                                                "catalog.price_first_help")):
        return CatalogRequest("enable", entry.provider, entry.model)
    if cols[1].button(t("catalog.reset"), key="catalog_reset", disabled=not row.changed):
        return CatalogRequest("reset", entry.provider, entry.model)
    return settings_form(row) or _price(row)


def _price(row: CatalogRow) -> CatalogRequest | None:
    st.markdown(f"**{t('catalog.price_heading')}**")
    asked = prices.price_form(row.entry.provider, row.entry.model, row.price)
    return CatalogRequest("price", row.entry.provider, row.entry.model, extra={"price": asked}) if asked else None


def settings_form(row: CatalogRow) -> CatalogRequest | None:
    entry, info = row.entry, row.entry.info
    suffix = f"{entry.provider}_{entry.model}"
    with st.form(f"catalog_form_{suffix}"):
        enabled = st.checkbox(t("catalog.col_enabled"), value=entry.enabled, key=f"cat_on_{suffix}")
        name = st.text_input(t("catalog.col_name"), value=info.display_name, max_chars=80, key=f"cat_name_{suffix}",
                             placeholder=entry.model)
        description = st.text_area(t("catalog.description"), value=info.description, max_chars=500, height=68,
                                   key=f"cat_desc_{suffix}")
        cols = st.columns(2)
        window = cols[0].number_input(t("catalog.col_context"), min_value=1, max_value=10_000_000, step=1024,
                                      value=info.context_window, key=f"cat_ctx_{suffix}")
        output = cols[1].number_input(t("catalog.max_output"), min_value=1, max_value=10_000_000, step=256,
                                      value=info.max_output, placeholder=t("catalog.no_cap"), key=f"cat_out_{suffix}")
        said: dict[str, Any] = {}
        if not entry.configured:  # what a discovered model is for (its id may mislead); config.yaml says its own
            said["kind"] = st.selectbox(t("catalog.col_kind"), list(KIND), index=list(KIND).index(entry.kind),
                                        format_func=labels({k: t(v) for k, v in KIND.items()}),
                                        key=f"cat_kind_{suffix}")
        if entry.kind == "chat":
            caps = st.columns(3)
            for (name_, label), col in zip(CAPABILITIES, caps, strict=True):
                said[name_] = col.selectbox(t(label), list(SAID), index=list(SAID).index(getattr(info, name_)),
                                            format_func=labels({k: t(v) for k, v in SAID.items()}),
                                            key=f"cat_{name_}_{suffix}")
        defaults = st.columns(3)
        temperature = defaults[0].number_input(t("catalog.default_temperature"), min_value=0.0, max_value=2.0,
                                               step=0.1, value=info.default_temperature,
                                               placeholder=t("catalog.portal_default"), key=f"cat_temp_{suffix}")
        tokens = defaults[1].number_input(t("catalog.default_max_tokens"), min_value=1, max_value=10_000_000,
                                          value=info.default_max_tokens, placeholder=t("catalog.portal_default"),
                                          key=f"cat_tokens_{suffix}")
        position = defaults[2].number_input(t("catalog.position"), min_value=0, max_value=100_000,
                                            value=entry.position, placeholder=t("catalog.natural_order"),
                                            help=t("catalog.position_help"), key=f"cat_pos_{suffix}")
        if not st.form_submit_button(t("catalog.save"), type="primary"):
            return None
    change = ModelSettings(enabled=enabled, display_name=name, description=description, context_window=int(window),
                           max_output=None if output is None else int(output),
                           default_temperature=None if temperature is None else float(temperature),
                           default_max_tokens=None if tokens is None else int(tokens),
                           position=None if position is None else int(position), **said)
    return CatalogRequest("save", entry.provider, entry.model, change)


def perform(asked: CatalogRequest, *, admin_id: int) -> None:
    settings = get_settings()
    name = f"{asked.provider}/{asked.model}"
    if asked.action == "discover":
        started = run_action(lambda s: start_discovery(session=s, actor_id=admin_id, settings=settings,
                                                       engine=get_engine(settings)))
        if started is not None:
            st.session_state[state.FLASH] = t("catalog.discovery_started" if started else "catalog.already_running")
            st.rerun()
    elif asked.action in ("enable", "disable"):
        on = asked.action == "enable"
        rerun_after(lambda s: set_enabled(session=s, actor_id=admin_id, provider=asked.provider, model=asked.model,
                                          enabled=on), t("catalog.enabled" if on else "catalog.disabled", model=name))
    elif asked.action == "reset":
        rerun_after(lambda s: reset_model(session=s, actor_id=admin_id, provider=asked.provider, model=asked.model),
                    t("catalog.was_reset", model=name))
    elif asked.action == "price":
        prices.perform(asked.extra["price"], admin_id=admin_id)
    elif asked.change is not None:
        change = asked.change
        rerun_after(lambda s: update_model(session=s, actor_id=admin_id, provider=asked.provider, model=asked.model,
                                           change=change), t("catalog.saved", model=name))
