"""core.db_batch: end-of-turn writes committed together; each caller returns once its own write is committed, a
bad write fails alone, and no write is lost when its batch is rolled back."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from core.db_batch import GroupCommit
from core.models import AuditEvent

WRITERS = 24


def _note(action: str) -> Callable[[Session], int]:
    def work(session: Session) -> int:
        event = AuditEvent(action=action, target="batch")
        session.add(event)
        session.flush()
        assert event.id is not None
        return event.id

    return work


def _count(engine: Engine, action: str | None = None) -> int:
    with Session(engine) as session:
        query = select(func.count()).select_from(AuditEvent).where(col(AuditEvent.target) == "batch")
        if action is not None:
            query = query.where(col(AuditEvent.action) == action)
        return int(session.exec(query).one())


def test_concurrent_writes_share_transactions_and_each_returns_committed(engine: Engine) -> None:
    writer = GroupCommit(engine)
    gate = threading.Barrier(WRITERS)
    seen: list[tuple[int, int]] = []

    def one(n: int) -> None:
        gate.wait()
        written = writer.run(_note(f"w{n}"), "test")
        seen.append((written, _count(engine, f"w{n}")))  # committed by the time run() returns

    threads = [threading.Thread(target=one, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == WRITERS and all(count == 1 for _, count in seen)
    assert len({written for written, _ in seen}) == WRITERS
    assert _count(engine) == WRITERS
    assert writer.batches < WRITERS  # some were committed together


def test_a_failing_write_fails_alone_and_its_batch_neighbours_are_kept(engine: Engine) -> None:
    writer = GroupCommit(engine)
    gate = threading.Barrier(9)
    outcomes: dict[int, object] = {}

    def bad(session: Session) -> int:
        session.add(AuditEvent(action="bad", target="batch"))
        session.flush()
        raise ValueError("this write is refused")

    def one(n: int) -> None:
        gate.wait()
        try:
            outcomes[n] = writer.run(bad if n == 4 else _note(f"ok{n}"), "test")
        except ValueError as exc:
            outcomes[n] = exc

    threads = [threading.Thread(target=one, args=(n,)) for n in range(9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert isinstance(outcomes[4], ValueError)
    assert all(isinstance(outcomes[n], int) for n in range(9) if n != 4)
    assert _count(engine, "bad") == 0  # nothing of the refused write is kept
    assert _count(engine) == 8


def test_a_write_that_writes_again_does_not_wait_for_itself(engine: Engine) -> None:
    writer = GroupCommit(engine)

    def outer(session: Session) -> int:
        session.add(AuditEvent(action="outer", target="batch"))
        return writer.run(_note("inner"), "test")

    assert writer.run(outer, "test") > 0
    assert _count(engine) == 2


def test_one_write_alone_is_committed_at_once(engine: Engine) -> None:
    writer = GroupCommit(engine)
    assert writer.run(_note("alone"), "test") > 0
    assert writer.batches == 1 and _count(engine, "alone") == 1
