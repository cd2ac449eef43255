"""Chat overhead: time to first token and total time through ConversationManager vs the raw openai SDK.

Both talk to the same local OpenAI-protocol server with a fixed first-token delay, so the
difference is what Parley adds (validation, storing the user message, building the context,
storing the reply and the usage event). Runs alternate; prints medians and the overhead in ms.
Target: overhead <= 5 ms median. Usage: python bench/chat_overhead.py [runs]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx2  # noqa: E402
import openai  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from core import db  # noqa: E402
from core.app import startup  # noqa: E402
from core.chat import ConversationManager, TurnOptions  # noqa: E402
from core.config import get_settings  # noqa: E402
from core.models import User  # noqa: E402
from tests.fakes.provider_server import FakeProviderServer, Reply  # noqa: E402

FIRST_TOKEN_DELAY = 0.050
CHUNKS = [f" word{i}" for i in range(40)]


def raw_sdk(client: openai.OpenAI) -> tuple[float, float]:
    start = time.perf_counter()
    first = None
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello there"}], stream=True,
        stream_options={"include_usage": True}, max_completion_tokens=512, temperature=0.7)
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter()
    end = time.perf_counter()
    return ((first or end) - start) * 1000, (end - start) * 1000


def through_parley(manager: ConversationManager, user_id: int) -> tuple[float, float]:
    options = TurnOptions(provider="openai", model="gpt-4o-mini")
    start = time.perf_counter()
    first = None
    # A new conversation each time, so the provider gets the same one-message request as the raw SDK.
    turn = manager.send(user_id=user_id, conversation_id=None, text="Hello there", options=options)
    try:
        for _ in turn.deltas():
            if first is None:
                first = time.perf_counter()
    finally:
        turn.close()
    end = time.perf_counter()
    return ((first or end) - start) * 1000, (end - start) * 1000


def main(runs: int = 40) -> None:
    server = FakeProviderServer().start()
    tmp = tempfile.mkdtemp()
    os.environ.update({
        "PARLEY_DATA_DIR": tmp, "PARLEY_ADMIN_PASSWORD": "Bench-pass-123", "OPENAI_API_KEY": "sk-good-key",
        "PARLEY_PROVIDERS__OPENAI__BASE_URL": server.openai_url, "PARLEY_PROVIDERS__OPENAI__MAX_RETRIES": "0",
    })
    get_settings.cache_clear()
    startup()
    with Session(db.get_engine()) as session:
        user_id = session.exec(select(User.id).where(User.username == "admin")).one()
    manager = ConversationManager()
    client = openai.OpenAI(api_key="sk-good-key", base_url=server.openai_url, max_retries=0,
                           timeout=httpx2.Timeout(60, connect=5))
    reply = Reply(chunks=CHUNKS, first_delay=FIRST_TOKEN_DELAY)
    raw, ours = [], []
    for i in range(runs + 3):
        server.enqueue("openai", reply, reply)
        if i % 2:  # alternate who goes first, so neither always follows the other
            r, o = raw_sdk(client), through_parley(manager, user_id)
        else:
            o, r = through_parley(manager, user_id), raw_sdk(client)
        if i >= 3:  # warm-up runs are not counted
            raw.append(r)
            ours.append(o)
    server.stop()
    med = statistics.median
    raw_ttft, raw_total = med(r[0] for r in raw), med(r[1] for r in raw)
    our_ttft, our_total = med(o[0] for o in ours), med(o[1] for o in ours)
    print(f"first-token delay {FIRST_TOKEN_DELAY * 1000:.0f} ms, {len(CHUNKS)} chunks, {runs} runs, SQLite")
    print(f"{'':<22}{'TTFT ms':>10}{'total ms':>10}")
    print(f"{'raw openai SDK':<22}{raw_ttft:>10.2f}{raw_total:>10.2f}")
    print(f"{'ConversationManager':<22}{our_ttft:>10.2f}{our_total:>10.2f}")
    print(f"{'overhead':<22}{our_ttft - raw_ttft:>10.2f}{our_total - raw_total:>10.2f}   (target <= 5 ms)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
