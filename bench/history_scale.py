"""History at scale: 1,000,000 messages in 10,000 conversations for one user, plus 100 other users.

Conversations are trees, as the chat makes them: about one reply in eight has 2-3 versions (regenerate) and one
question in twenty was edited (the old question keeps its reply); the branch shown continues from any version, and
every conversation keeps its leaf. Every message has its parent.
Prints median and p95 (ms) for the first page of the list, a search for a rare word, a search for a
common word, a Korean substring search, and opening a 500-message conversation (read_thread: its branch and
versions), on SQLite and PostgreSQL. Targets: list <= 20 ms, search p95 <= 50 ms, open <= 50 ms.
Usage: python bench/history_scale.py [messages]
"""

from __future__ import annotations

import io
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench._util import bench_databases, summary  # noqa: E402
from core import db  # noqa: E402
from core.app import startup  # noqa: E402
from core.config import get_settings  # noqa: E402
from core.history import list_conversations, read_thread, search  # noqa: E402
from core.models import User  # noqa: E402

RUNS = 20
WORDS = ("the a to of and in is it for on with how what why can you please explain write code python sql index "
         "query table backup server cache model token prompt stream reply team key limit cost chart user").split()
KOREAN = "우리는 매일 밤 백업을 합니다 서버 설정 방법 알려주세요 모델 응답 속도 비용 질문".split()
NOW = datetime.now(UTC).replace(microsecond=0)


def sentence(rnd: random.Random, i: int) -> str:
    words = rnd.choices(WORDS, k=rnd.randrange(8, 30))
    if rnd.random() < 0.3:
        words.insert(rnd.randrange(len(words)), "database")  # the common word
    if rnd.random() < 0.05:
        words += [*rnd.choices(KOREAN, k=4), "데이터베이스를", *rnd.choices(KOREAN, k=3)]
    if i % 200_000 == 7:
        words.append("zanzibarite")  # the rare word: a handful of messages
    return " ".join(words)


class Tree:
    """Message rows (id, conversation, parent, role, content, status, created_at) for the conversations seeded."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.rows: list[tuple[Any, ...]] = []
        self.next_id = 1  # ids are given here, so that each message can name its parent

    def _add(self, cid: int, parent: int | None, role: str, when: datetime) -> int:
        mid, self.next_id = self.next_id, self.next_id + 1
        self.rows.append((mid, cid, parent, role, sentence(self.rnd, mid - 1), "complete", when))
        return mid

    def conversation(self, cid: int, count: int, when: datetime) -> int | None:
        """count messages in turns, some edited or regenerated; returns the leaf of the branch shown."""
        rnd, at, end = self.rnd, None, len(self.rows) + count
        while len(self.rows) < end:
            if end - len(self.rows) >= 4 and rnd.random() < 0.05:  # an edited question: the old one and its reply
                self._add(cid, self._add(cid, at, "user", when), "assistant", when)
            question = self._add(cid, at, "user", when)
            versions = min(1 if rnd.random() < 0.875 else rnd.choice((2, 3)), end - len(self.rows))
            replies = [self._add(cid, question, "assistant", when) for _ in range(versions)]
            at = rnd.choice(replies) if replies else question  # the branch goes on from any version
        return at


def seed(engine, n_messages: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Seed the data; returns the id of the 500-message conversation and how many messages are versions."""
    rnd = random.Random(11)
    with Session(engine) as session:
        session.add_all(User(username=f"other{i}", email=f"o{i}@e.x", display_name=f"O{i}", password_hash="x")
                        for i in range(100))
        session.commit()
        main = session.exec(select(User.id).where(User.username == "admin")).one()
        others = list(session.exec(select(User.id).where(User.username != "admin")).all())
    owners = [main] * 10_000 + [o for o in others for _ in range(20)]  # others: 20 conversations each
    per_main = (n_messages - 500) // 9_999
    convs, tree = [], Tree(rnd)
    for cid, owner in enumerate(owners, start=1):
        when = NOW - timedelta(minutes=len(owners) - cid)
        leaf = tree.conversation(cid, 500 if cid == 1 else per_main if owner == main else 10, when)
        convs.append((cid, owner, f"Conversation {cid} about {rnd.choice(WORDS)}", "local", "smollm2-135m-instruct",
                      "", "{}", False, False, None, when, when, leaf))
    siblings = {(m[1], m[2]) for m in tree.rows}  # (conversation, parent): one per group of versions
    _bulk(engine, convs, tree.rows)
    return 1, len(tree.rows) - len(siblings)


def _bulk(engine, convs: list[tuple], msgs: list[tuple]) -> None:  # type: ignore[no-untyped-def, type-arg]
    conv_cols = ("id, user_id, title, provider, model, system_prompt, params, pinned, archived, deleted_at, "
                 "created_at, updated_at, leaf_id")
    msg_cols = "id, conversation_id, parent_id, role, content, status, created_at"
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            for table, cols, rows in (("conversation", conv_cols, convs), ("message", msg_cols, msgs)):
                buf = io.StringIO()
                for r in rows:
                    buf.write("\t".join("\\N" if v is None else v.isoformat() if isinstance(v, datetime)
                                        else str(v).replace("\\", "\\\\") for v in r) + "\n")
                buf.seek(0)
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    copy.write(buf.read())
            cur.execute("SELECT setval('conversation_id_seq', (SELECT max(id) FROM conversation))")
            cur.execute("SELECT setval('message_id_seq', (SELECT max(id) FROM message))")
        else:
            fmt = "%Y-%m-%d %H:%M:%S.%f"
            cur.executemany(f"INSERT INTO conversation ({conv_cols}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                            [(*c[:10], c[10].strftime(fmt), c[11].strftime(fmt), c[12]) for c in convs])
            cur.executemany(f"INSERT INTO message ({msg_cols}) VALUES (?,?,?,?,?,?,?)",
                            [(*m[:6], m[6].strftime(fmt)) for m in msgs])
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))


def measure(fn) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    fn()  # warm-up
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return summary(samples)


def measure_all(session: Session, big: int) -> tuple[list[tuple[float, float]], list[int], str]:
    uid = session.exec(select(User.id).where(User.username == "admin")).one() or 0
    queries = ("zanzibarite", "database", "데이터")
    results = [measure(lambda: list_conversations(session=session, user_id=uid))]
    results += [measure(lambda q=q: search(session=session, user_id=uid, query=q)) for q in queries]
    results.append(measure(lambda: read_thread(session=session, user_id=uid, conversation_id=big)))
    thread = read_thread(session=session, user_id=uid, conversation_id=big)
    opened = f"open shows {len(thread.messages)} of 500, {len(thread.versions)} of them with versions"
    return results, [len(search(session=session, user_id=uid, query=q)) for q in queries], opened


def main(n_messages: int = 1_000_000) -> None:
    os.environ["PARLEY_ADMIN_PASSWORD"] = "Bench-pass-123"
    os.environ.setdefault("PARLEY_LOG_LEVEL", "WARNING")  # the figures, not the migrations' log
    print(f"{n_messages:,} messages in 10,000 conversations for one user + 100 other users (20 conversations each)")
    print(f"{'':<12}{'list p1':>16}{'rare word':>16}{'common word':>16}{'Korean substr':>16}{'open 500 msgs':>16}")
    print(f"{'':<12}" + "{:>16}".format("median / p95") * 5)
    with bench_databases() as dbs:
        for backend, url in dbs:
            os.environ["PARLEY_DATABASE_URL"] = url
            get_settings.cache_clear()
            db.reset_caches()
            startup()
            engine = db.get_engine()
            started = time.perf_counter()
            big, versions = seed(engine, n_messages)
            seeded = time.perf_counter() - started
            with Session(engine) as session:
                results, hits, opened = measure_all(session, big)
            print(f"{backend:<12}" + "".join(f"{m:>8.1f} /{p:>6.1f}" for m, p in results)
                  + f"   (seeded in {seeded:.0f} s; hits {hits}; {versions:,} messages are later versions; "
                  f"{opened})")
            db.reset_caches()
    print("targets: list <= 20 ms, search p95 <= 50 ms, open <= 50 ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
