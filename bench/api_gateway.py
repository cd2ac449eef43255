"""API gateway overhead and throughput: the raw openai SDK straight to a local OpenAI-protocol backend vs the
same SDK through Parley's /v1 (a real `streamlit run server.py` process: token check, limits, key resolution,
usage recording all on), in the same run, on SQLite and (with PARLEY_BENCH_DATABASE_URL or
PARLEY_TEST_DATABASE_URL) PostgreSQL.

Prints, per database: added latency at concurrency 1 (median of alternating runs; non-stream total, stream
time to first token; target <= 3 ms), requests/s and streams/s at concurrency 32 for both paths (targets per
Parley process: 230 and 85), and a UI page load (Streamlit's own websocket protocol, the login page's script
run) while 32 API streams run vs idle.

Usage: python bench/api_gateway.py [runs]    (every process it starts is stopped by PID at the end)
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx2  # noqa: E402
import openai  # noqa: E402
import websockets  # noqa: E402
from sqlmodel import Session, select  # noqa: E402
from streamlit.proto import BackMsg_pb2, ForwardMsg_pb2  # noqa: E402

from bench._util import bench_databases  # noqa: E402
from tests.fakes.provider_server import FakeProviderServer, Reply  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIRST_DELAY = 0.020  # the backend's time to first token
CHUNKS = [f" word{i}" for i in range(10)]
MESSAGES = [{"role": "user", "content": "Hello there"}]
CONCURRENCY = 32
LOAD_SECONDS = 6.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_parley(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(port), "--server.address",
           "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", "--logger.level", "error"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log.read_text()[-2000:]) from None
            time.sleep(0.3)


def make_token(env: dict[str, str]) -> str:
    os.environ.update(env)
    from core.api import create_token
    from core.config import get_settings
    from core.db import get_engine, reset_caches
    from core.models import LimitPolicy, User

    get_settings.cache_clear()
    reset_caches()
    with Session(get_engine()) as session:
        admin = session.exec(select(User).where(User.username == "admin")).one()
        # Limits stay on (every request is checked and counted) but high enough never to refuse.
        session.add(LimitPolicy(user_id=admin.id or 0, requests_per_minute=1_000_000_000,
                                requests_per_day=1_000_000_000, tokens_per_day=1_000_000_000,
                                budget_usd_per_month=1_000_000_000))
        session.commit()
        return create_token(session=session, user_id=admin.id or 0, name="bench").token


def plain(client: openai.OpenAI, model: str) -> float:
    start = time.perf_counter()
    client.chat.completions.create(model=model, messages=MESSAGES, max_completion_tokens=64)  # type: ignore[arg-type]
    return (time.perf_counter() - start) * 1000


def first_token(client: openai.OpenAI, model: str) -> float:
    start, first = time.perf_counter(), None
    stream = client.chat.completions.create(model=model, messages=MESSAGES, stream=True,  # type: ignore[arg-type]
                                            max_completion_tokens=64)
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter()
    return ((first or time.perf_counter()) - start) * 1000


def alternate(runs: int, raw: Callable[[], float], ours: Callable[[], float]) -> tuple[float, float]:
    a, b = [], []
    for i in range(runs + 3):
        if i % 2:
            x, y = raw(), ours()
        else:
            y, x = ours(), raw()
        if i >= 3:  # warm-up runs are not counted
            a.append(x)
            b.append(y)
    return statistics.median(a), statistics.median(b)


def throughput(call: Callable[[], object], seconds: float = LOAD_SECONDS, threads: int = CONCURRENCY) -> float:
    """Completed calls per second with `threads` callers in parallel (errors are counted and reported)."""
    done, errors, stop = [0], [0], threading.Event()

    def worker() -> None:
        while not stop.is_set():
            try:
                call()
                done[0] += 1
            except Exception:
                errors[0] += 1

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in pool:
        t.join(timeout=60)
    if errors[0]:
        print(f"    ({errors[0]} failed calls)")
    return done[0] / (time.perf_counter() - start)


async def page_load(port: int) -> float:
    """One UI session: websocket, a script run of the app (the login page), until the script finished."""
    start = time.perf_counter()
    async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", max_size=None) as ws:
        msg = BackMsg_pb2.BackMsg()
        msg.rerun_script.query_string = ""
        await ws.send(msg.SerializeToString())
        while True:
            forward = ForwardMsg_pb2.ForwardMsg()
            forward.ParseFromString(await ws.recv())
            if forward.WhichOneof("type") == "script_finished":
                return (time.perf_counter() - start) * 1000


def page_loads(port: int, n: int = 5) -> float:
    return statistics.median(asyncio.run(page_load(port)) for _ in range(n))


def run(db_name: str, db_url: str, backend: FakeProviderServer, runs: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PARLEY_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"PARLEY_DATA_DIR": str(tmp), "PARLEY_DATABASE_URL": db_url, "PARLEY_ADMIN_PASSWORD": "Bench-pass-123",
                "OPENAI_API_KEY": "sk-good-key", "PARLEY_PROVIDERS__OPENAI__BASE_URL": backend.openai_url,
                "PARLEY_PROVIDERS__OPENAI__MAX_RETRIES": "0", "PARLEY_LOG_LEVEL": "WARNING",
                "PARLEY_API_TOKEN_KEY": "bench-token-key-" + "k" * 40, "PARLEY_CACHE__ENABLED": "false"})
    proc = start_parley(env, port, tmp / "server.log")
    try:
        token = make_token(env)
        limits = httpx2.Limits(max_connections=64, max_keepalive_connections=64)
        raw = openai.OpenAI(api_key="sk-good-key", base_url=backend.openai_url, max_retries=0, timeout=60,
                            http_client=httpx2.Client(limits=limits, timeout=60))
        ours = openai.OpenAI(api_key=token, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=60,
                             http_client=httpx2.Client(limits=limits, timeout=60))
        print(f"\n== {db_name}: backend first token {FIRST_DELAY * 1000:.0f} ms, {len(CHUNKS)} chunks")
        raw_total, our_total = alternate(runs, lambda: plain(raw, "gpt-4o-mini"),
                                         lambda: plain(ours, "openai/gpt-4o-mini"))
        raw_ttft, our_ttft = alternate(runs, lambda: first_token(raw, "gpt-4o-mini"),
                                       lambda: first_token(ours, "openai/gpt-4o-mini"))
        print(f"concurrency 1, median of {runs}:        raw SDK   via Parley   added (target <= 3 ms)")
        print(f"  non-stream total         {raw_total:>12.2f} {our_total:>12.2f} {our_total - raw_total:>9.2f} ms")
        print(f"  stream first token       {raw_ttft:>12.2f} {our_ttft:>12.2f} {our_ttft - raw_ttft:>9.2f} ms")
        idle_page = page_loads(port)
        print(f"concurrency {CONCURRENCY}, {LOAD_SECONDS:.0f} s each:          raw SDK   via Parley    ratio")
        raw_rps = throughput(lambda: plain(raw, "gpt-4o-mini"))
        our_rps = throughput(lambda: plain(ours, "openai/gpt-4o-mini"))
        print(f"  non-stream requests/s    {raw_rps:>12.1f} {our_rps:>12.1f} {our_rps / raw_rps:>9.2f}"
              "   (target >= 230)")
        control: list[float] = []  # the same client load straight to the backend: what the machine itself loses
        loader = threading.Thread(target=lambda: (time.sleep(LOAD_SECONDS / 3), control.append(page_loads(port))))
        loader.start()
        raw_sps = throughput(lambda: first_token(raw, "gpt-4o-mini"))
        loader.join()
        busy: list[float] = []
        loader = threading.Thread(target=lambda: (time.sleep(LOAD_SECONDS / 3), busy.append(page_loads(port))))
        loader.start()
        our_sps = throughput(lambda: first_token(ours, "openai/gpt-4o-mini"))
        loader.join()
        print(f"  streams/s                {raw_sps:>12.1f} {our_sps:>12.1f} {our_sps / raw_sps:>9.2f}"
              "   (target >= 85)")
        print(f"UI page load (websocket script run), median of 5: idle {idle_page:.1f} ms; while {CONCURRENCY} "
              f"streams go straight to the backend {control[0]:.1f} ms ({control[0] / idle_page:.2f}x); "
              f"while they go through Parley {busy[0]:.1f} ms ({busy[0] / idle_page:.2f}x)")
    finally:
        proc.terminate()  # only the process this bench started
        proc.wait(timeout=30)


def main(runs: int = 60) -> None:
    backend = FakeProviderServer().start()
    backend.queues["openai"].clear()
    default = Reply(chunks=CHUNKS, first_delay=FIRST_DELAY)
    backend.next_reply = lambda protocol: default  # type: ignore[method-assign]
    try:
        with bench_databases() as dbs:
            for name, url in dbs:
                run(name, url, backend, runs)
    finally:
        backend.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)
