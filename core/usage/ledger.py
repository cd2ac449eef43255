"""Budget counters with holds: reserve atomically before a provider call, settle to the actual usage after.

Two stores behind one interface. The database (SQLite or PostgreSQL, no Redis): one conditional UPDATE per
counter in one transaction, rows locked in a fixed order; a hold is a row, settled in the same transaction as its
usage event. Redis (REDIS_URL): one Lua script checks and holds every counter at once; settled after the usage
event commits. Either way the durable totals are the usage events: a counter that does not exist yet (new period,
Redis restarted) is seeded from them. A hold is a lease: the process that took it renews its expiry while the call
runs (Budgets' renewal thread), so an expired hold belongs to a process that died; the reaper charges its call once
(its usage event if one was written, else what it held) in the same step that removes the hold.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, Engine, bindparam, case, delete, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from core.models import BudgetCounter, BudgetHold, utcnow
from core.usage.holds import Hold, Over, Part, dump_parts, load_parts

# The usage already recorded for a budget in a period, for a counter that does not exist yet.
Seed = Callable[[str, str], ColumnElement[int]]


# The usage event a lost call is charged with, added to the caller's session; returns the counters' amounts.
ChargeLost = Callable[[Session, Hold], dict[str, int]]


class DbLedger:
    """Counters and holds in the database; reserve is one short transaction of its own."""

    def __init__(self, engine: Engine, seed: Seed) -> None:
        self.engine, self.seed = engine, seed
        self._postgres = engine.dialect.name == "postgresql"

    def reserve(self, hold: Hold, ttl: timedelta) -> Over | None:
        row = insert(BudgetHold).values(id=hold.id, user_id=hold.user_id, parts=_dump(hold),
                                        expires_at=utcnow() + ttl, created_at=utcnow())
        with Session(self.engine) as session:
            if self._postgres:  # the usual case in one statement: hold every counter, and add the hold if all had room
                recorded = session.connection().execute(_held_and_recorded(len(hold.parts)),
                                                        _hold_params(hold, ttl)).first()
                if recorded is not None:
                    session.commit()
                    return None
            elif self._held_all(session, hold.parts):  # the usual case: every counter exists and has room
                session.connection().execute(row)
                session.commit()
                return None
            session.rollback()
            for part in hold.parts:  # a fixed order: two reservations never wait for each other's rows
                if not self._take(session, part):
                    over = self._state(session, part)
                    session.rollback()
                    return over
            session.connection().execute(row)
            session.commit()
        return None

    def _held_all(self, session: Session, parts: tuple[Part, ...]) -> bool:
        """All parts held by one UPDATE (one round trip); False when a counter is missing or has no room."""
        return session.connection().execute(_take_all(len(parts)), _part_params(parts)).rowcount == len(parts)

    def _take(self, session: Session, part: Part) -> bool:
        if self._held(session, part):
            return True
        self._create(session, part)  # a new period (or the first call ever): seeded from the usage records
        return self._held(session, part)

    def _held(self, session: Session, part: Part) -> bool:
        counter = _counter(part)
        take = (update(BudgetCounter).where(counter, col(BudgetCounter.used) + col(BudgetCounter.held) + part.amount
                                            <= part.limit)
                .values(held=col(BudgetCounter.held) + part.amount))
        return bool(session.connection().execute(take).rowcount)

    def _create(self, session: Session, part: Part) -> None:
        row = select(literal(part.scope), literal(part.period), self.seed(part.scope, part.period), literal(0))
        columns = ["scope", "period", "used", "held"]
        add = (postgresql.insert(BudgetCounter).from_select(columns, row).on_conflict_do_nothing() if self._postgres
               else sqlite.insert(BudgetCounter).from_select(columns, row).on_conflict_do_nothing())
        session.connection().execute(add)

    def _state(self, session: Session, part: Part) -> Over:
        counter = session.get(BudgetCounter, (part.scope, part.period))
        return Over(part, counter.used if counter else 0, counter.held if counter else 0)

    def settle(self, session: Session, hold: Hold, actual: dict[str, int]) -> None:
        """Turn the hold into the actual amounts, in the caller's transaction (with its usage event)."""
        gone = session.connection().execute(_DELETE_HOLD, {"hold_id": hold.id}).rowcount
        self._apply(session, hold, actual, released=bool(gone))

    @staticmethod
    def _apply(session: Session, hold: Hold, actual: dict[str, int], *, released: bool) -> None:
        # One UPDATE for every counter; a hold already gone (expired and reaped) only adds the spend.
        values = _part_params(hold.parts)
        for i, part in enumerate(hold.parts):
            values[f"spent{i}"], values[f"freed{i}"] = actual.get(part.scope, 0), part.amount if released else 0
        session.connection().execute(_settle(len(hold.parts)), values)

    def find(self, hold_id: str) -> Hold | None:
        with Session(self.engine) as session:
            row = session.get(BudgetHold, hold_id)
            return None if row is None else _load(row.id, row.user_id, row.parts)

    def renew(self, hold_ids: Sequence[str], ttl: timedelta) -> None:
        """The calls holding these are still running (in this process): push their expiry back."""
        with Session(self.engine) as session:
            session.connection().execute(update(BudgetHold).where(col(BudgetHold.id).in_(list(hold_ids)))
                                         .values(expires_at=utcnow() + ttl))
            session.commit()

    def release(self, hold: Hold) -> None:
        with Session(self.engine) as session:
            self.settle(session, hold, {})
            session.commit()

    def read(self, parts: Sequence[Part]) -> dict[str, tuple[int, int]]:
        """(settled, held) per scope, creating counters that do not exist yet."""
        out = {}
        with Session(self.engine) as session:
            for part in parts:
                counter = session.get(BudgetCounter, (part.scope, part.period))
                if counter is None:
                    self._create(session, part)
                    session.commit()
                    counter = session.get(BudgetCounter, (part.scope, part.period))
                out[part.scope] = (counter.used, counter.held) if counter else (0, 0)
        return out

    def reap(self, spent: Callable[[Hold], dict[str, int] | None], charge: ChargeLost,  # noqa: ARG002
             limit: int = 100) -> int:
        """Settle holds past their expiry (their process died). Here a hold and its usage event are written in one
        transaction, so an expired hold never has one: its call is charged as held, in the transaction that removes
        the hold (whoever removes it first does it, once)."""
        with Session(self.engine) as session:
            expired = session.execute(select(BudgetHold).where(col(BudgetHold.expires_at) < utcnow())
                                      .limit(limit)).scalars().all()
            holds = [_load(h.id, h.user_id, h.parts) for h in expired]
        done = 0
        for hold in holds:
            with Session(self.engine) as session:
                claimed = session.connection().execute(delete(BudgetHold).where(col(BudgetHold.id) == hold.id))
                if not claimed.rowcount:
                    continue  # settled or reaped meanwhile
                self._apply(session, hold, charge(session, hold) if hold.call else {}, released=True)
                session.commit()
                done += 1
        return done


# The statements of every call are built once per number of parts, with parameters (building SQLAlchemy expressions
# cost more CPU than running them): s<i>, p<i>, a<i>, l<i> are part i's scope, period, amount and limit.
_DELETE_HOLD = delete(BudgetHold).where(col(BudgetHold.id) == bindparam("hold_id"))


def _part_params(parts: Sequence[Part]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for i, part in enumerate(parts):
        values.update({f"s{i}": part.scope, f"p{i}": part.period, f"a{i}": part.amount, f"l{i}": part.limit})
    return values


def _nth(i: int) -> ColumnElement[bool]:
    return (col(BudgetCounter.scope) == bindparam(f"s{i}")) & (col(BudgetCounter.period) == bindparam(f"p{i}"))


def _per_part(n: int, name: str) -> ColumnElement[int]:
    return case(*((_nth(i), bindparam(f"{name}{i}", type_=BigInteger)) for i in range(n)))


@lru_cache(maxsize=8)
def _take_all(n: int) -> Update:
    """One UPDATE adding each part's amount to its counter's held, on the counters that have room for it."""
    amount, limit = _per_part(n, "a"), _per_part(n, "l")
    return (update(BudgetCounter)
            .where(or_(*(_nth(i) for i in range(n))),
                   col(BudgetCounter.used) + col(BudgetCounter.held) + amount <= limit)
            .values(held=col(BudgetCounter.held) + amount))


@lru_cache(maxsize=8)
def _settle(n: int) -> Update:
    """One UPDATE adding each part's spend (spent<i>) to its counter's used and taking freed<i> off its held."""
    return (update(BudgetCounter).where(or_(*(_nth(i) for i in range(n))))
            .values(used=col(BudgetCounter.used) + _per_part(n, "spent"),
                    held=col(BudgetCounter.held) - _per_part(n, "freed")))


def _hold_params(hold: Hold, ttl: timedelta) -> dict[str, Any]:
    now = utcnow()
    return {**_part_params(hold.parts), "hold_id": hold.id, "hold_user": hold.user_id, "hold_parts": _dump(hold),
            "hold_expires": now + ttl, "hold_created": now}


@lru_cache(maxsize=8)
def _held_and_recorded(n: int) -> Any:
    """PostgreSQL: UPDATE every counter and INSERT the hold in one statement (a data-modifying CTE); the hold row is
    written only when every counter was updated, else the caller rolls the updates back."""
    taken = _take_all(n).returning(col(BudgetCounter.scope)).cte("taken")
    table = BudgetHold.__table__.c  # type: ignore[attr-defined]
    row = select(*(bindparam(f"hold_{name}", type_=table[column].type) for name, column in
                   (("id", "id"), ("user", "user_id"), ("parts", "parts"), ("expires", "expires_at"),
                    ("created", "created_at"))))
    row = row.where(select(func.count()).select_from(taken).scalar_subquery() == n)
    return (postgresql.insert(BudgetHold).from_select(["id", "user_id", "parts", "expires_at", "created_at"], row)
            .add_cte(taken).returning(col(BudgetHold.id)))


def _counter(part: Part) -> ColumnElement[bool]:
    return (col(BudgetCounter.scope) == part.scope) & (col(BudgetCounter.period) == part.period)


def _dump(hold: Hold) -> str:
    return json.dumps(dump_parts(hold))


def _load(hold_id: str, user_id: int, parts: str) -> Hold:
    return load_parts(hold_id, user_id, json.loads(parts))


