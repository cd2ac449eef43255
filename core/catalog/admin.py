"""Admin → Models: every catalog model with its settings and price, and the changes admins make to them (each one
audited with what it was and what it became). config.yaml stays the base: a field an admin leaves at config.yaml's
value is not stored, so a later change to config.yaml still applies; "back to config.yaml" forgets the rest.

A model config.yaml does not name (found by discovery) starts disabled, and is enabled only once it has a price
(Admin → Models' price form, 0 included): a model nobody priced is never used at $0 by accident."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import inspect, select
from sqlmodel import Session

from core.accounts import record_audit, require_admin
from core.config import ModelInfo, Settings, get_settings
from core.errors import NotFound, ValidationError
from core.i18n import Msg
from core.model_catalog import FIELDS, Entry, forget_catalog, merge, priced_models
from core.models import CatalogModel, PriceOverride, utcnow
from core.providers.registry import provider_classes
from core.usage import Price
from core.validation import clean_line, sanitize

CONTEXT_MAX = 10_000_000
POSITION_MAX = 100_000
NAME_MAX, DESCRIPTION_MAX = 80, 500


@dataclass(frozen=True)
class CatalogRow:
    """One model of the admin's table: as it is now, its price, whether config.yaml would give it one."""

    entry: Entry
    price: Price | None  # None: never priced (a discovered model); enabling it asks for a price first
    changed: bool  # an admin set something over config.yaml (or, discovered, anything at all)
    capabilities: tuple[str, ...] = ()  # what it takes as its provider's adapter sees it: vision, tools, json_mode


def capabilities(entry: Entry) -> tuple[str, ...]:
    """What the model takes: the catalog's yes or no, else its provider's default (as Provider.supports reads it)."""
    if entry.kind == "embedding":
        return ("embeddings",)
    adapter = provider_classes().get(entry.provider)
    default = adapter.capabilities if adapter is not None else frozenset()
    said = {"vision": entry.info.vision, "tools": entry.info.tools, "json_mode": entry.info.json_mode}
    return tuple(name for name, value in said.items() if (name in default if value is None else value))


class ModelSettings(BaseModel):
    """What an admin sets for one model (the whole form: None leaves config.yaml's value, or the provider's)."""

    enabled: bool
    display_name: str = ""
    description: str = ""
    context_window: int = Field(default=4096, ge=1, le=CONTEXT_MAX)
    max_output: int | None = Field(default=None, ge=1, le=CONTEXT_MAX)
    vision: bool | None = None
    tools: bool | None = None
    json_mode: bool | None = None
    default_temperature: float | None = Field(default=None, ge=0, le=2)
    default_max_tokens: int | None = Field(default=None, ge=1, le=CONTEXT_MAX)
    position: int | None = Field(default=None, ge=0, le=POSITION_MAX)
    kind: Literal["chat", "embedding"] | None = None  # a discovered model's (its id can mislead); not config.yaml's


def _rows(session: Session) -> dict[tuple[str, str], CatalogModel]:
    return {(r.provider, r.model): r for r in session.execute(select(CatalogModel)).scalars()}


def catalog_table(*, session: Session, actor_id: int, settings: Settings | None = None) -> list[CatalogRow]:
    """Every catalog model, enabled or not, in the picker's order, read now (not through any cache)."""
    require_admin(session=session, actor_id=actor_id)
    settings = settings or get_settings()
    rows = _rows(session)
    prices = {(p.provider, p.model): p for p in session.execute(select(PriceOverride)).scalars()}
    table = []
    for entry in merge(settings, list(rows.values()), set(prices)):
        o = prices.get((entry.provider, entry.model))
        price = Price(o.price_in, o.price_out, o.price_cached_in, True) if o else (
            Price(entry.info.price_in, entry.info.price_out, entry.info.price_cached_in) if entry.configured else None)
        row = rows.get((entry.provider, entry.model))
        changed = row is not None and (not entry.configured or _settings_of(row) != {})
        table.append(CatalogRow(entry, price, changed, capabilities(entry)))
    return table


def _settings_of(row: CatalogModel) -> dict[str, Any]:
    """What the row sets (discovery's own stamps left out)."""
    return {name: getattr(row, name) for name in ("enabled", *FIELDS, "position") if getattr(row, name) is not None}


def _refuse_unpriced(session: Session, entry: Entry, enabled: bool) -> None:
    """A discovered model is enabled only once it has an admin's price (never offered at $0 by accident)."""
    if enabled and not entry.configured and session.get(PriceOverride, (entry.provider, entry.model)) is None:
        raise ValidationError(Msg("catalog.price_first", model=entry.id))


def _keep(session: Session, row: CatalogModel, entry: Entry) -> None:
    """Store the row; drop it when it sets nothing over config.yaml's model and discovery never saw the model."""
    if not _settings_of(row) and entry.configured and row.seen_at is None:
        if inspect(row).persistent:
            session.delete(row)
    else:
        session.add(row)


def _find(session: Session, settings: Settings, provider: str, model: str) -> tuple[Entry, CatalogModel | None]:
    row = session.get(CatalogModel, (provider, model))
    found = [e for e in merge(settings, [row] if row else [], priced_models(session))
             if (e.provider, e.model) == (provider, model)]
    if not found:
        raise NotFound(Msg("catalog.unknown_model", model=f"{provider}/{model}"[:200]))
    return found[-1], row


def _base(settings: Settings, entry: Entry) -> ModelInfo:
    """config.yaml's ModelInfo for the entry (a blank one for a discovered model)."""
    catalog = settings.providers.get(entry.provider)
    models = (catalog.models if entry.kind == "chat" else catalog.embedding_models) if catalog else {}
    return models.get(entry.model) or ModelInfo()


def update_model(*, session: Session, actor_id: int, provider: str, model: str, change: ModelSettings,
                 settings: Settings | None = None) -> None:
    """Set one model's catalog settings (audited: the fields that changed, before and after)."""
    require_admin(session=session, actor_id=actor_id)
    settings = settings or get_settings()
    entry, row = _find(session, settings, provider, model)
    name = clean_line(change.display_name, max_chars=NAME_MAX)
    description = sanitize(change.description, max_chars=DESCRIPTION_MAX)
    if len(description) > DESCRIPTION_MAX:
        raise ValidationError(Msg("validation.text_too_long", max=DESCRIPTION_MAX))
    if change.max_output is not None and change.max_output > change.context_window:
        raise ValidationError(Msg("catalog.output_over_window"))
    cap = change.max_output or change.context_window
    if change.default_max_tokens is not None and change.default_max_tokens > cap:
        raise ValidationError(Msg("catalog.default_over_output", max=cap))
    _refuse_unpriced(session, entry, change.enabled)
    base = _base(settings, entry)
    wanted: dict[str, Any] = {"display_name": name, "description": description,
                              **change.model_dump(include={"context_window", "max_output", "vision", "tools",
                                                           "json_mode", "default_temperature", "default_max_tokens"})}
    if change.kind is not None and change.kind != entry.kind and entry.configured:
        raise ValidationError(Msg("catalog.kind_from_config"))
    row = row or CatalogModel(provider=provider, model=model, kind=entry.kind)
    before = {**_settings_of(row), "kind": row.kind}
    for field, value in wanted.items():  # config.yaml's value is not stored: a later edit of config.yaml applies
        setattr(row, field, None if value == getattr(base, field) else value)
    row.enabled = None if change.enabled == entry.configured else change.enabled
    row.position, row.kind = change.position, change.kind or row.kind
    after = {**_settings_of(row), "kind": row.kind}
    if after == before:
        return
    row.updated_at, row.updated_by = utcnow(), actor_id
    _keep(session, row, entry)
    keys = sorted(set(before) | set(after))
    record_audit(session=session, actor_id=actor_id, action="catalog.update", target=entry.id,
                 detail={"before": {k: before.get(k) for k in keys if before.get(k) != after.get(k)},
                         "after": {k: after.get(k) for k in keys if before.get(k) != after.get(k)}})
    session.commit()
    forget_catalog()


def set_enabled(*, session: Session, actor_id: int, provider: str, model: str, enabled: bool,
                settings: Settings | None = None) -> None:
    """Offer a model in the picker and /v1/models, or stop offering it (audited); nothing else changes."""
    require_admin(session=session, actor_id=actor_id)
    entry, row = _find(session, settings or get_settings(), provider, model)
    _refuse_unpriced(session, entry, enabled)
    row = row or CatalogModel(provider=provider, model=model, kind=entry.kind)
    before = row.enabled
    row.enabled = None if enabled == entry.configured else enabled
    if row.enabled == before:
        return
    row.updated_at, row.updated_by = utcnow(), actor_id
    _keep(session, row, entry)
    record_audit(session=session, actor_id=actor_id, action="catalog.enable" if enabled else "catalog.disable",
                 target=entry.id)
    session.commit()
    forget_catalog()


def reset_model(*, session: Session, actor_id: int, provider: str, model: str,
                settings: Settings | None = None) -> bool:
    """Back to config.yaml's settings (a discovered model: disabled, as found); False when nothing was set."""
    require_admin(session=session, actor_id=actor_id)
    entry, row = _find(session, settings or get_settings(), provider, model)
    if row is None or not _settings_of(row):
        return False
    before = _settings_of(row)
    if entry.configured and row.seen_at is None:
        session.delete(row)
    else:  # keep what discovery found
        for field in before:
            setattr(row, field, None)
    record_audit(session=session, actor_id=actor_id, action="catalog.reset", target=entry.id,
                 detail={"before": before})
    session.commit()
    forget_catalog()
    return True
