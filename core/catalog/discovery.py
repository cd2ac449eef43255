"""Discovery: each provider's server is asked what models it offers, with the organisation's key (never a user's);
models the catalog does not hold are added, disabled until an admin prices and enables them; those it holds are
stamped as seen (nothing an admin set is touched). Each provider's last run is kept (DiscoveryRun): when, what it
found, why it could not ask (no key, invalid key, unreachable).

It never blocks a page: an admin starts it and it runs on a thread (start_discovery); every instance's scheduler
runs it when due (core.catalog.schedule), and a provider's turn is claimed in the database, so one instance asks.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from core.accounts import record_audit, require_admin
from core.config import ProviderCatalog, Settings
from core.db import session_scope
from core.errors import ProviderError, ValidationError
from core.i18n import Msg
from core.keys import org_resolution
from core.logging import log_event
from core.model_catalog import KINDS, forget_catalog
from core.models import CatalogModel, DiscoveryRun, utcnow
from core.models.catalog import KIND_MAX
from core.providers.discovery import Discovered, discover
from core.providers.registry import build_provider, configured_providers
from core.validation import clean_line

logger = logging.getLogger(__name__)
RUNNING_FOR = timedelta(minutes=10)  # a run still unfinished after this died with its process: it may run again
ID_MAX, NAME_MAX = 128, 80
MARKUP = frozenset("[]()<>`*!\\{}|#~ ")  # a listed id holding one of these is not a model id: left out
LISTED_MAX = 1000  # models kept from one provider's list (OpenRouter's has a few hundred): a runaway list stops here


@dataclass(frozen=True)
class Outcome:
    provider: str
    found: int = 0  # chat and embedding models in the provider's list
    added: int = 0  # of them, new to the catalog
    error: str | None = None  # why the provider could not be asked


def discover_provider(engine: Engine, settings: Settings, name: str) -> Outcome:
    """Ask one provider's server (a short timeout, one retry at most) and store what it offers."""
    with session_scope(engine) as session:
        resolution = org_resolution(session=session, provider=name, settings=settings)
    if resolution.credentials is None:
        return Outcome(name, error=str(resolution.reason or Msg("catalog.no_org_key")))
    catalog = settings.providers.get(name) or ProviderCatalog()
    quick = catalog.model_copy(update={"max_retries": min(catalog.max_retries, 1), "timeout_seconds": min(
        catalog.timeout_seconds, settings.catalog.discover_timeout_seconds)})
    asking = settings.model_copy(update={"providers": {**settings.providers, name: quick}})
    try:
        found = [d for d in discover(build_provider(name, resolution.credentials, asking))
                 if d.kind in KINDS and _clean_id(d.id)][:LISTED_MAX]
    except ProviderError as exc:
        return Outcome(name, error=str(exc.user_message))
    try:
        return Outcome(name, len(found), _store(engine, settings, name, found))
    except IntegrityError:  # another instance stored the same models at the same moment: its run counts
        return Outcome(name, len(found), 0)


def _clean_id(model_id: str) -> bool:
    """A model id as servers write them (letters, digits, . - _ : / @ +): nothing Markdown or HTML would read."""
    try:
        clean = 0 < len(model_id) <= ID_MAX and clean_line(model_id, max_chars=ID_MAX) == model_id
    except ValidationError:
        return False
    return clean and not set(model_id) & MARKUP


def _name(raw: str) -> str | None:
    try:
        return clean_line(raw, max_chars=NAME_MAX * 4)[:NAME_MAX] or None
    except ValidationError:
        return None


def _store(engine: Engine, settings: Settings, provider: str, found: list[Discovered]) -> int:
    catalog = settings.providers.get(provider) or ProviderCatalog()
    now, added = utcnow(), 0
    with session_scope(engine) as session:
        rows = {r.model: r for r in session.execute(
            select(CatalogModel).where(col(CatalogModel.provider) == provider)).scalars()}
        for model in found:
            row = rows.get(model.id)
            if row is None:
                configured = model.id in catalog.models or model.id in catalog.embedding_models
                row = CatalogModel(provider=provider, model=model.id, kind=model.kind[:KIND_MAX], discovered_at=now,
                                   display_name=None if configured else _name(model.display_name))
                added += 0 if configured else 1
            row.seen_at, row.discovered_at = now, row.discovered_at or now
            session.add(row)
    return added


def _mark(session: Session, names: list[str], actor_id: int | None) -> None:
    """The runs of names have started (the admin's page shows them running until they finish)."""
    now = utcnow()
    for name in names:
        run = session.get(DiscoveryRun, name) or DiscoveryRun(provider=name, started_at=now)
        run.started_at, run.finished_at, run.started_by, run.error = now, None, actor_id, None
        session.add(run)


def running(session: Session) -> bool:
    """A run started within RUNNING_FOR has not finished."""
    since = utcnow() - RUNNING_FOR
    return session.execute(select(col(DiscoveryRun.provider)).where(
        col(DiscoveryRun.finished_at).is_(None), col(DiscoveryRun.started_at) > since).limit(1)).first() is not None


def claim(engine: Engine, name: str, every: timedelta) -> bool:
    """This process takes provider name's scheduled turn when its last run is older than every (or never ran, or
    died): True for exactly one of the instances asking at once."""
    now = utcnow()
    with session_scope(engine) as session:
        taken = session.execute(update(DiscoveryRun).where(
            col(DiscoveryRun.provider) == name, col(DiscoveryRun.started_at) < now - every,
            or_(col(DiscoveryRun.finished_at).is_not(None), col(DiscoveryRun.started_at) < now - RUNNING_FOR))
            .values(started_at=now, finished_at=None, started_by=None, error=None))
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return True
        if session.get(DiscoveryRun, name) is not None:
            return False
    try:
        with session_scope(engine) as session:
            session.add(DiscoveryRun(provider=name, started_at=now))
        return True
    except IntegrityError:  # another instance inserted it first: its turn
        return False


def run_discovery(engine: Engine, settings: Settings, actor_id: int | None, names: list[str]) -> list[Outcome]:
    """Ask each of names (their runs already marked started), record each run and one audit event."""
    outcomes = []
    for name in names:
        try:
            outcome = discover_provider(engine, settings, name)
        except Exception:  # a bug or a database blip: this provider's run fails, the others go on
            logger.exception("model discovery failed", extra={"fields": {"provider": name}})
            outcome = Outcome(name, error=str(Msg("catalog.discovery_failed")))
        with session_scope(engine) as session:
            run = session.get(DiscoveryRun, name) or DiscoveryRun(provider=name, started_at=utcnow())
            run.finished_at, run.found, run.added = utcnow(), outcome.found, outcome.added
            run.error = outcome.error[:500] if outcome.error else None
            session.add(run)
        outcomes.append(outcome)
    with session_scope(engine) as session:
        record_audit(session=session, actor_id=actor_id, action="catalog.discover", target=",".join(names)[:200],
                     detail={o.provider: {"found": o.found, "added": o.added, "error": o.error} for o in outcomes})
    forget_catalog()
    log_event(logger, "model catalog discovered", providers=len(outcomes), added=sum(o.added for o in outcomes),
              failed=sum(o.error is not None for o in outcomes))
    return outcomes


def start_discovery(*, session: Session, actor_id: int, settings: Settings, engine: Engine) -> bool:
    """An admin asks every provider now, on a thread (the page does not wait); False when a run is going on."""
    require_admin(session=session, actor_id=actor_id)
    if running(session):
        return False
    names = configured_providers(settings)
    _mark(session, names, actor_id)
    session.commit()
    threading.Thread(target=run_discovery, args=(engine, settings, actor_id, names), name="parley-discovery",
                     daemon=True).start()
    return True


def last_runs(*, session: Session, actor_id: int) -> list[DiscoveryRun]:
    """Each provider's last discovery, for the admin's page."""
    require_admin(session=session, actor_id=actor_id)
    return list(session.execute(select(DiscoveryRun).order_by(col(DiscoveryRun.provider))).scalars())
