"""Import at scale: a ~50 MB valid Parley export (20,000 conversations, 200,000 messages — the import limits)
imported on SQLite while another user keeps chatting. Prints the import's time and peak traced memory, and the
other user's turn times (median, max) and failures during the import against the same turns when idle.

Usage: python bench/import_scale.py [conversations]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import Session, select  # noqa: E402

from core.app import startup  # noqa: E402
from core.config import get_settings  # noqa: E402
from core.db import get_engine, session_scope  # noqa: E402
from core.history import import_conversations  # noqa: E402
from core.models import User  # noqa: E402

WORDS = "the quick brown fox jumps over a lazy dog while data flows through the import pipeline".split()


def export(conversations: int, per_conversation: int = 10) -> bytes:
    body = " ".join(WORDS * 2)[:240]
    return json.dumps({"schema": "parley.export", "version": 1, "conversations": [
        {"title": f"Imported {i}", "provider": "local", "model": "smollm2-135m-instruct",
         "messages": [{"role": "user" if j % 2 == 0 else "assistant", "content": f"{body} {i}.{j}"}
                      for j in range(per_conversation)]}
        for i in range(conversations)]}).encode()


def chat_turns(user_id: int, stop: threading.Event, samples: list[float], failures: list[str]) -> None:
    """Another user's chat, as the database sees it: store a message and a reply, then read the conversation."""
    from core.history import create_conversation, messages_of
    from core.models import ConversationCreate, Message, MessageRole

    while not stop.is_set():
        start = time.perf_counter()
        try:
            with session_scope() as session:
                conv = create_conversation(session=session, user_id=user_id, conv_in=ConversationCreate(
                    provider="local", model="smollm2-135m-instruct", title="meanwhile"))
                session.add(Message(conversation_id=conv.id or 0, role=MessageRole.user, content="still here?"))
                session.add(Message(conversation_id=conv.id or 0, role=MessageRole.assistant, content="yes"))
                session.flush()
                messages_of(session=session, conversation_id=conv.id or 0)
            samples.append((time.perf_counter() - start) * 1000)
        except Exception as exc:  # "database is locked" is what the old import caused
            failures.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:60]}")
        time.sleep(0.05)


def main(conversations: int = 20_000) -> None:
    tmp = tempfile.mkdtemp()
    os.environ.update({"PARLEY_DATA_DIR": tmp, "PARLEY_ADMIN_PASSWORD": "Bench-pass-123",
                       "PARLEY_LOG_LEVEL": "WARNING"})
    get_settings.cache_clear()
    startup()
    with Session(get_engine()) as session:
        admin = session.exec(select(User.id).where(User.username == "admin")).one()
    raw = export(conversations)
    print(f"export: {len(raw) / 1e6:.1f} MB, {conversations:,} conversations, {conversations * 10:,} messages")

    idle: list[float] = []
    stop, failures = threading.Event(), []
    other = threading.Thread(target=chat_turns, args=(admin, stop, idle, failures))
    other.start()
    time.sleep(3)
    stop.set()
    other.join()

    during: list[float] = []
    stop = threading.Event()
    other = threading.Thread(target=chat_turns, args=(admin, stop, during, failures))
    other.start()
    tracemalloc.start()
    start = time.perf_counter()
    with session_scope() as session:
        count = import_conversations(session=session, user_id=admin, raw=raw, max_bytes=60_000_000)
    took = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stop.set()
    other.join()
    print(f"import: {count:,} conversations in {took:.1f} s, peak traced memory {peak / 1e6:.0f} MB "
          f"({peak / len(raw):.1f}x the file)")
    print(f"another user's turn (store 2 messages, read back): idle median {statistics.median(idle):.1f} ms; "
          f"during the import median {statistics.median(during):.1f} ms, max {max(during):.0f} ms, "
          f"{len(during)} turns, {len(failures)} failed {sorted(set(failures))}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
