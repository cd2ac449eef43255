"""Local model throughput: tokens/s through Parley (ConversationManager, DB included) vs raw llama-cpp-python.

Same loaded model, same prompt, temperature 0, runs alternate; prints medians and the ratio.
Target: ratio >= 0.95. Usage: python bench/local_model.py [runs] [max_tokens]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import Session, select  # noqa: E402

from core import db  # noqa: E402
from core.app import startup  # noqa: E402
from core.chat import ConversationManager, TurnOptions  # noqa: E402
from core.config import get_settings  # noqa: E402
from core.models import User  # noqa: E402
from core.providers.local import LocalProvider  # noqa: E402
from core.providers.registry import build_provider  # noqa: E402

PROMPT = "Write a long story about a dragon who learns to bake bread."
MODEL = "smollm2-135m-instruct"


def raw(llama, max_tokens: int) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    tokens = 0
    for chunk in llama.create_chat_completion(messages=[{"role": "user", "content": PROMPT}], temperature=0.0,
                                              max_tokens=max_tokens, stream=True):
        if chunk["choices"][0]["delta"].get("content"):
            tokens += 1
    return tokens, time.perf_counter() - start


def parley(manager: ConversationManager, user_id: int, max_tokens: int) -> tuple[int, float]:
    options = TurnOptions(provider="local", model=MODEL, temperature=0.0, max_tokens=max_tokens)
    start = time.perf_counter()
    turn = manager.send(user_id=user_id, conversation_id=None, text=PROMPT, options=options)
    tokens = 0
    try:
        for _ in turn.deltas():
            tokens += 1
    finally:
        turn.close()
    return tokens, time.perf_counter() - start


def main(runs: int = 5, max_tokens: int = 256) -> None:
    os.environ.update({"PARLEY_DATA_DIR": tempfile.mkdtemp(), "PARLEY_ADMIN_PASSWORD": "Bench-pass-123"})
    get_settings.cache_clear()
    startup()
    with Session(db.get_engine()) as session:
        user_id = session.exec(select(User.id).where(User.username == "admin")).one()
    provider = build_provider("local")
    assert isinstance(provider, LocalProvider)
    llama = provider.llama()  # both paths use this one loaded model
    manager = ConversationManager()
    raw(llama, 8)
    parley(manager, user_id, 8)  # warm-up
    raw_rates, our_rates = [], []
    for i in range(runs):
        order = [("raw", lambda: raw(llama, max_tokens)), ("parley", lambda: parley(manager, user_id, max_tokens))]
        for name, fn in order if i % 2 == 0 else reversed(order):
            tokens, seconds = fn()
            (raw_rates if name == "raw" else our_rates).append(tokens / seconds)
    med_raw, med_ours = statistics.median(raw_rates), statistics.median(our_rates)
    print(f"SmolLM2-135M Q4_1, {max_tokens} tokens max, temperature 0, {runs} runs each, {os.cpu_count()} cores")
    print(f"raw llama-cpp-python  {med_raw:8.1f} tokens/s")
    print(f"through Parley        {med_ours:8.1f} tokens/s")
    print(f"ratio                 {med_ours / med_raw:8.3f}   (target >= 0.95)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
