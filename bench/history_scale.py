"""History at scale: 1,000,000 messages in 10,000 conversations for one user, plus 100 other users.

Prints median and p95 (ms) for the first page of the list, a search for a rare word, a search for a
common word, a Korean substring search, and opening a 500-message conversation, on SQLite and
PostgreSQL. Targets: list <= 20 ms, search p95 <= 50 ms, open <= 50 ms.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench._util import bench_databases, summary  # noqa: E402
from core import db  # noqa: E402
from core.app import startup  # noqa: E402
from core.config import get_settings  # noqa: E402
from core.history import (  # noqa: E402
    list_conversations,
    read_conversation,  # noqa: E402
    search,
)
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


def seed(engine, n_messages: int) -> int:  # type: ignore[no-untyped-def]
    """Seed the data; returns the id of the 500-message conversation."""
    rnd = random.Random(11)
    with Session(engine) as session:
        session.add_all(User(username=f"other{i}", email=f"o{i}@e.x", display_name=f"O{i}", password_hash="x")
                        for i in range(100))
        session.commit()
        main = session.exec(select(User.id).where(User.username == "admin")).one()
        others = list(session.exec(select(User.id).where(User.username != "admin")).all())
    owners = [main] * 10_000 + [o for o in others for _ in range(20)]  # others: 20 conversations each
    per_main = (n_messages - 500) // 9_999
    convs, msgs = [], []
    for cid, owner in enumerate(owners, start=1):
        when = NOW - timedelta(minutes=len(owners) - cid)
        convs.append((cid, owner, f"Conversation {cid} about {rnd.choice(WORDS)}", "local", "smollm2-135m-instruct",
                      "", "{}", False, False, None, when, when))
        count = 500 if cid == 1 else per_main if owner == main else 10
        for _ in range(count):
            msgs.append((cid, "user" if len(msgs) % 2 == 0 else "assistant", sentence(rnd, len(msgs)), "complete",
                         when))
    _bulk(engine, convs, msgs)
    return 1


def _bulk(engine, convs: list[tuple], msgs: list[tuple]) -> None:  # type: ignore[no-untyped-def, type-arg]
    conv_cols = ("id, user_id, title, provider, model, system_prompt, params, pinned, archived, deleted_at, "
                 "created_at, updated_at")
    msg_cols = "conversation_id, role, content, status, created_at"
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
        else:
            fmt = "%Y-%m-%d %H:%M:%S.%f"
            cur.executemany(f"INSERT INTO conversation ({conv_cols}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                            [(*c[:10], c[10].strftime(fmt), c[11].strftime(fmt)) for c in convs])
            cur.executemany(f"INSERT INTO message ({msg_cols}) VALUES (?,?,?,?,?)",
                            [(*m[:4], m[4].strftime(fmt)) for m in msgs])
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


def measure_all(session: Session, big: int) -> tuple[list[tuple[float, float]], list[int]]:
    uid = session.exec(select(User.id).where(User.username == "admin")).one()
    queries = ("zanzibarite", "database", "데이터")
    results = [measure(lambda: list_conversations(session=session, user_id=uid))]
    results += [measure(lambda q=q: search(session=session, user_id=uid, query=q)) for q in queries]
    results.append(measure(lambda: read_conversation(session=session, user_id=uid, conversation_id=big)))
    return results, [len(search(session=session, user_id=uid, query=q)) for q in queries]


def main(n_messages: int = 1_000_000) -> None:
    os.environ["PARLEY_ADMIN_PASSWORD"] = "Bench-pass-123"
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
            big = seed(engine, n_messages)
            seeded = time.perf_counter() - started
            with Session(engine) as session:
                results, hits = measure_all(session, big)
            print(f"{backend:<12}" + "".join(f"{m:>8.1f} /{p:>6.1f}" for m, p in results)
                  + f"   (seeded in {seeded:.0f} s; hits {hits})")
            db.reset_caches()
    print("targets: list <= 20 ms, search p95 <= 50 ms, open <= 50 ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
