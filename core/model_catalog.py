"""The model catalog in force: config.yaml's models with what admins set on Admin → Models over them, and the
models providers' servers were found to offer (core.catalog discovers them; they stay disabled until an admin
prices and enables them).

offered() is the Settings every model choice reads (the picker, /v1/models, a turn's checks, teams' allow-lists):
config.yaml's, with each provider's models replaced by the enabled ones, in the admins' order, with their display
names, windows, capabilities and default parameters. lookup() finds any catalog model, enabled or not (a call
that started before a model was disabled is still priced).

Rows are read through a short per-process cache (one query per CACHE_SECONDS at most): a change reaches every
instance within it, and at once the instance that made it (forget_catalog). The API's caller contexts pass the
version of core.changes they were built under (a catalog change moves it), so they never reuse an older read.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select
from sqlmodel import Session, col

from core.config import ModelInfo, ProviderCatalog, Settings
from core.models import CatalogModel, PriceOverride

CACHE_SECONDS = 5.0
KINDS = ("chat", "embedding")
# What a row may set over config.yaml's ModelInfo (None in the row: config.yaml's value).
FIELDS = ("display_name", "description", "context_window", "max_output", "vision", "tools", "json_mode",
          "default_temperature", "default_max_tokens")


@dataclass(frozen=True)
class Entry:
    """One catalog model as it is now."""

    provider: str
    model: str
    kind: str  # chat | embedding
    info: ModelInfo  # config.yaml's (or blank for a discovered model) with the admin's settings over it
    enabled: bool
    configured: bool  # config.yaml names it
    position: int | None = None
    seen_at: datetime | None = None  # last in the provider's list (None: never discovered)

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.model}"

    @property
    def title(self) -> str:
        return self.info.display_name or self.model


@dataclass(frozen=True)
class _Read:
    expires: float
    version: int | None
    settings: Settings
    entries: tuple[Entry, ...]
    by_key: dict[tuple[str, str], Entry]
    offered: Settings


_cache: dict[tuple[str, int], _Read] = {}  # (database, settings object): a process has one or two of each
_lock = threading.Lock()


def merge(settings: Settings, rows: list[CatalogModel], priced: set[tuple[str, str]]) -> list[Entry]:
    """config.yaml's models (chat, then embedding, per provider) with rows over them, then the discovered ones
    (enabled only while priced: in priced, the models with an admin's price); ordered by the admins' positions
    (models without one keep this order, after those with one)."""
    by_key = {(r.provider, r.model): r for r in rows}
    found: list[Entry] = []
    for provider, catalog in settings.providers.items():
        for kind, models in (("chat", catalog.models), ("embedding", catalog.embedding_models)):
            found += [_entry(provider, model, kind, info, by_key.pop((provider, model), None), configured=True)
                      for model, info in models.items()]
    found += [_entry(r.provider, r.model, r.kind, ModelInfo(), r, False, (r.provider, r.model) in priced)
              for r in sorted(by_key.values(), key=lambda r: (r.provider, r.model)) if r.kind in KINDS]
    order = {e.id + e.kind: i for i, e in enumerate(found)}
    return sorted(found, key=lambda e: (e.position is None, e.position or 0, order[e.id + e.kind]))


def _entry(provider: str, model: str, kind: str, base: ModelInfo, row: CatalogModel | None,
           configured: bool, priced: bool = True) -> Entry:
    if row is None:
        return Entry(provider, model, kind, base, enabled=configured, configured=configured)
    changed = {name: getattr(row, name) for name in FIELDS if getattr(row, name) is not None}
    enabled = (configured if row.enabled is None else bool(row.enabled)) and priced
    return Entry(provider, model, kind, base.model_copy(update=changed), enabled, configured, row.position,
                 row.seen_at)


def offer(settings: Settings, entries: tuple[Entry, ...] | list[Entry]) -> Settings:
    """settings with each provider's chat and embedding models replaced by the enabled entries, in order."""
    providers = {name: catalog.model_copy(update={"models": {}, "embedding_models": {}})
                 for name, catalog in settings.providers.items()}
    for entry in entries:
        if entry.enabled:
            catalog = providers.setdefault(entry.provider, ProviderCatalog())
            (catalog.models if entry.kind == "chat" else catalog.embedding_models)[entry.model] = entry.info
    return settings.model_copy(update={"providers": providers})


def _read(settings: Settings, bind: Engine | Connection, version: int | None) -> _Read:
    engine = bind.engine  # a session's bind may be a connection
    key = (engine.url.render_as_string(hide_password=True), id(settings))
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
    if (hit is not None and hit.expires > now and hit.settings is settings
            and (version is None or version == hit.version)):
        return hit
    with Session(engine) as session:
        rows = list(session.execute(select(CatalogModel)).scalars())
        priced = priced_models(session)
    entries = tuple(merge(settings, rows, priced))
    read = _Read(now + CACHE_SECONDS, version, settings, entries, {(e.provider, e.model): e for e in entries},
                 offer(settings, entries))
    with _lock:
        if len(_cache) > 16:  # settings objects built and dropped (tests, a reload): the oldest reads go
            _cache.clear()
        _cache[key] = read
    return read


def priced_models(session: Session) -> set[tuple[str, str]]:
    """The models an admin has priced ((provider, model)): a discovered model is offered only while it has one."""
    return {(p, m) for p, m in session.execute(select(col(PriceOverride.provider), col(PriceOverride.model)))}


def entries(settings: Settings, engine: Engine | Connection) -> tuple[Entry, ...]:
    """Every catalog model, enabled or not, in the picker's order."""
    return _read(settings, engine, None).entries


def offered(settings: Settings, engine: Engine | Connection, version: int | None = None) -> Settings:
    """The Settings model choices read: only enabled models, as the catalog describes them (see the module)."""
    return _read(settings, engine, version).offered


def lookup(settings: Settings, engine: Engine | Connection, provider: str, model: str) -> Entry | None:
    """The catalog's model, enabled or not; None for one the catalog does not hold."""
    return _read(settings, engine, None).by_key.get((provider, model))


def forget_catalog() -> None:
    with _lock:
        _cache.clear()


def chat_model_names(settings: Settings, engine: Engine | Connection) -> list[str]:
    """Every chat model's name the catalog holds, enabled or not, sorted (filters of past usage and history)."""
    return sorted({e.model for e in entries(settings, engine) if e.kind == "chat"})
