"""API gateway overhead and throughput, side by side: A = straight to a local fake OpenAI-protocol backend,
B = through the LiteLLM proxy, C = through Parley's /v1 (a real `streamlit run server.py` process: token check,
limits, key resolution, budget reservation and usage recording all on). Same backend, same upstream work for all
three (bench/litellm/fake_backend.py: 20 ms to the first token, then 20 words 2 ms apart, usage in both modes),
alternated in one run so machine drift cancels, on SQLite and on PostgreSQL + Redis.

Per run and target:
  plain c=1      non-streamed requests one at a time, interleaved A,B,C / C,B,A: latency median and p95
  stream c=1     streamed requests the same way: time to first token (median, p95) and to [DONE]
  plain c=32     closed loop, 32 in flight, in time slices A,B,C,C,B,A: requests/s
  stream c=32    the same with streams: streams/s
  CPU            utime+stime from /proc/<pid>/stat of the proxy (LiteLLM's process; Parley's process and all its
                 children, found by ppid), per phase, divided by that target's completed requests
  UI under load  Parley's portal: `GET /` and one script run over Streamlit's websocket (the login page), idle vs
                 with 32 API streams in flight through Parley (and, as a control, straight to the backend), and
                 through a `python -m core.api` server beside the portal (the team topology: compose, make cluster)
`runs` (default 3) repeats all that; the tables give medians and ranges (min-max) over runs, the ratio
Parley/LiteLLM, latency added over direct, and the targets (issue 23) next to them:
  plain requests/s at c=32 >= 2x LiteLLM (SQLite and PostgreSQL+Redis); streams/s at c=32 >= 2x LiteLLM;
  latency added over direct at one client <= 5 ms (plain total and stream first token; LiteLLM adds ~20 ms);
  UI page load with 32 API streams in flight <= 2x idle;
  `python -m core.api --workers 2` >= 1.8x the requests/s of one worker (with --api-workers 1,2).

LiteLLM (optional; B is skipped with a note when it is missing) lives in its own venv, its pins conflict with
Parley's:  bench/litellm/install.sh  (venv /tmp/litellm-venv, or $PARLEY_BENCH_LITELLM_VENV). It runs as measured
before (shared/peers/litellm): 1 worker, master key, no database, prices in model_info, offline switches.

The load client is aiohttp on uvloop (both in Parley's requirements), one process, one connection pool per
target: an httpx or openai-SDK client saturates its own core first (327 req/s direct vs aiohttp's 3,700 in the
LiteLLM measurement), which would cap the very ratios measured here. Every response is checked (status 200, the
whole text, usage, `data: [DONE]`); failures are counted, left out of the timings and printed with samples.
Parley's token drives all 32 connections (as LiteLLM's master key does), so its per-user concurrency cap is
raised to 48 for the bench; the limits themselves stay on, set too high to refuse. Parley's fallback chain is off
(LiteLLM has none here): an upstream failure shows as an error, not as the bundled local model's reply.

Usage:
  python bench/api_gateway.py [runs]          # ~10-12 min: 3 runs x (SQLite, PostgreSQL+Redis)
  python bench/api_gateway.py --quick         # smoke check: 1 run, short phases (~4 min with start-ups)
  python bench/api_gateway.py --api-workers 1,2 [--no-portal]   # plus/only `python -m core.api --workers N`
                                              # (+1 min per database; those servers get Redis on both legs:
                                              # several workers refuse to start without a shared store)
  --db sqlite|postgresql: one leg only; --no-litellm: leave B out.
PostgreSQL: PARLEY_BENCH_DATABASE_URL (or PARLEY_TEST_DATABASE_URL), a server this may create a database on;
Redis for that leg: PARLEY_BENCH_REDIS_URL (default redis://127.0.0.1:6379/11, a database for the bench alone:
Parley's keys there are deleted before and after each leg). All traffic is 127.0.0.1;
every process the bench starts is stopped by its PID at the end (with the children it had); their logs are kept
(the path is printed), their databases and data are not.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import websockets  # noqa: E402
from streamlit.proto import BackMsg_pb2, ForwardMsg_pb2  # noqa: E402

from bench._util import bench_databases, summary  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LITELLM_VENV = Path(os.environ.get("PARLEY_BENCH_LITELLM_VENV", "/tmp/litellm-venv"))
REDIS_URL = os.environ.get("PARLEY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
API_MAIN = ROOT / "core" / "api" / "__main__.py"

# The upstream work, the same for every target (the backend reads these from its environment).
FIRST_MS, GAP_MS, CHUNKS = 20, 2, 20
EXPECTED_TEXT = "".join(f"word{i:02d} " for i in range(CHUNKS))
PROMPT_TOKENS = 12
MESSAGES = [{"role": "user", "content": "Say twenty words."}]
PRICE_IN, PRICE_OUT = 0.15, 0.60  # USD per 1M tokens: Parley's config.yaml price for gpt-4o-mini, given to LiteLLM
CONCURRENCY = 32
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Targets of issue 23.
RATIO_TARGET = 2.0
ADDED_MS_TARGET = 5.0
UI_RATIO_TARGET = 2.0
WORKERS_RATIO_TARGET = 1.8


@dataclass(frozen=True)
class Profile:
    runs: int
    plain_c1: int  # requests per target
    stream_c1: int
    slice_s: float  # one time slice of a c=32 phase
    rounds: int  # slices per target and phase (A,B,C then C,B,A ...)
    warm_s: float  # closed-loop warm-up per target and mode
    page_loads: int


DEFAULT = Profile(runs=3, plain_c1=100, stream_c1=40, slice_s=3.5, rounds=2, warm_s=1.5, page_loads=5)
QUICK = Profile(runs=1, plain_c1=30, stream_c1=15, slice_s=1.5, rounds=2, warm_s=1.0, page_loads=3)


# ---------------------------------------------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Stat = tuple[int, int, int, int]  # ppid, start time, own CPU ticks (utime+stime, all threads), reaped children's


def proc_table() -> dict[int, Stat]:
    """Every process's ppid, start time and CPU ticks, from /proc/<pid>/stat."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        # fields[0] is field 3 (state): ppid 4, utime 14, stime 15, cutime 16, cstime 17, starttime 22.
        own, reaped = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
        table[int(entry.name)] = (int(fields[1]), int(fields[19]), own, reaped)
    return table


def descendants(table: dict[int, Stat], root: int) -> set[int]:
    """root and every process below it (worker children, their children)."""
    found, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, stat in table.items() if stat[0] == parent and pid not in found]
        found.update(children)
        frontier.extend(children)
    return found & table.keys()


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process tree: a server with its worker children (and any child
    that already exited, through cutime/cstime). "client" is this process alone: the servers are its children."""
    table = proc_table()
    out = {}
    for name, root in roots.items():
        if name == "client":
            out[name] = table[root][2] / CLK_TCK
        else:
            out[name] = sum(table[pid][2] + table[pid][3] for pid in descendants(table, root)) / CLK_TCK
    return out


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, headers: dict[str, str] | None = None,
              timeout: float = 120) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    start = time.monotonic()
    deadline = start + timeout
    while True:
        try:
            with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=2) as resp:
                if resp.status == 200:
                    print(f"  {log.stem} up (pid {proc.pid}) in {time.monotonic() - start:.0f} s")
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up; log {log}:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(0.3)


class Processes:
    """Every process the bench starts; stop() ends one by its PID, then any child of it still alive (by the PID and
    start time recorded while it ran), and nothing else."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        self.running.append((name, proc))
        return proc, log

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        start = time.monotonic()
        table = proc_table()
        children = {pid: table[pid][1] for pid in descendants(table, proc.pid) if pid != proc.pid}
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        time.sleep(0.2)
        table = proc_table()
        for pid, started in children.items():
            if pid in table and table[pid][1] == started:  # the same process, not a reused PID
                os.kill(pid, 9)
        name = next(n for n, p in self.running if p is proc)
        self.running = [(n, p) for n, p in self.running if p is not proc]
        print(f"  {name} stopped (pid {proc.pid}) in {time.monotonic() - start:.0f} s")

    def stop_all(self) -> None:
        for _, proc in reversed(self.running):
            try:
                self.stop(proc)
            except OSError:  # e.g. stdout closed under us: the others are still stopped
                continue


def start_backend(procs: Processes, tmp: Path) -> tuple[str, int]:
    port = free_port()
    env = {**os.environ, "FAKE_FIRST_MS": str(FIRST_MS), "FAKE_GAP_MS": str(GAP_MS), "FAKE_CHUNKS": str(CHUNKS)}
    cmd = [sys.executable, "-m", "uvicorn", "fake_backend:app", "--app-dir", str(ROOT / "bench" / "litellm"),
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--loop", "uvloop", "--http", "httptools",
           # keep-alive as long as real APIs keep theirs: uvicorn's 5 s would have the proxies' pooled connections
           # closed under them between slices, a race the bench would make up (the SDKs here do not retry it)
           "--timeout-keep-alive", "120", "--no-access-log", "--log-level", "warning"]
    proc, log = procs.start("backend", cmd, env, tmp)
    wait_http(f"http://127.0.0.1:{port}/v1/models", proc, log)
    return f"http://127.0.0.1:{port}/v1", proc.pid


LITELLM_MASTER_KEY = "sk-bench-master-0123456789abcdef"


def litellm_config(backend_url: str) -> str:
    # As measured before (shared/peers/litellm): one deployment, priced, no callbacks, master key, no database.
    return f"""model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {backend_url}
      api_key: sk-good-key
    model_info:
      mode: chat
      input_cost_per_token: {PRICE_IN / 1e6:.10f}
      output_cost_per_token: {PRICE_OUT / 1e6:.10f}
litellm_settings:
  set_verbose: false
  json_logs: false
  callbacks: []
  success_callback: []
  failure_callback: []
  request_timeout: 600
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  disable_spend_logs: true
  disable_error_logs: true
  store_model_in_db: false
"""


def litellm_version() -> str:
    found = sorted((LITELLM_VENV / "lib").glob("python*/site-packages/litellm-*.dist-info"))
    return found[0].name.removeprefix("litellm-").removesuffix(".dist-info") if found else "?"


def start_litellm(procs: Processes, tmp: Path, backend_url: str) -> tuple[str, int]:
    port = free_port()
    config = tmp / "litellm.yaml"
    config.write_text(litellm_config(backend_url))
    drop = ("DATABASE_URL", "REDIS_URL", "REDIS_HOST", "PYTHONPATH", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") and k not in drop}
    env.update({"LITELLM_MASTER_KEY": LITELLM_MASTER_KEY, "LITELLM_OFFLINE_MODE": "true",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY_DISABLED": "true", "LITELLM_LOG": "ERROR",
                "DO_NOT_TRACK": "true", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    cmd = [str(LITELLM_VENV / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
           "--num_workers", "1"]  # one worker: uvicorn runs inside this very PID
    proc, log = procs.start("litellm", cmd, env, tmp)
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models", proc, log, {"Authorization": f"Bearer {LITELLM_MASTER_KEY}"})
    except RuntimeError:
        procs.stop(proc)  # at once: a proxy stuck starting must not take CPU from the other targets
        raise
    return f"http://127.0.0.1:{port}/v1", proc.pid


def parley_env(tmp: Path, db_url: str, backend_url: str, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PARLEY_") and k not in ("DATABASE_URL", "REDIS_URL", "CHROMA_URL")}
    env.update({"PARLEY_DATA_DIR": str(tmp), "PARLEY_DATABASE_URL": db_url, "PARLEY_ADMIN_PASSWORD": "Bench-pass-123",
                "OPENAI_API_KEY": "sk-good-key", "PARLEY_PROVIDERS__OPENAI__BASE_URL": backend_url,
                "PARLEY_PROVIDERS__OPENAI__MAX_RETRIES": "0", "PARLEY_LOG_LEVEL": "WARNING",
                "PARLEY_API_TOKEN_KEY": "bench-token-key-" + "k" * 40, "PARLEY_CACHE__ENABLED": "false",
                # one token carries all 32 connections (the default cap is 8 per user, below api.workers = 64)
                "PARLEY_API__MAX_CONCURRENT_PER_USER": "48",
                # no fallback chain (LiteLLM has none here): a failed upstream call shows as an error with its
                # message, not as the bundled local model's reply computed on the same two cores
                "PARLEY_CHAT__FALLBACK": "[]",
                "PARLEY_DRAIN_GRACE_SECONDS": "5"})  # SIGTERM at the end: nothing is in flight by then
    if redis_url:
        env["PARLEY_REDIS_URL"] = redis_url
    return env


def start_portal(procs: Processes, env: dict[str, str], name: str) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(port), "--server.address",
           "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", "--logger.level", "error"]
    proc, log = procs.start(name, cmd, env, ROOT)
    wait_http(f"http://127.0.0.1:{port}/healthz", proc, log)
    return port, proc


def start_api_servers(procs: Processes, env: dict[str, str], counts: list[int], db_name: str,
                      migrated: bool) -> list[tuple[int, subprocess.Popen[bytes]]]:
    """`python -m core.api --workers N` for each N, started together (each takes seconds to import and fork) once
    the database is migrated: each command migrates it before its workers start, and two at once would race."""
    started, pending = [], []
    for n in counts:
        port = free_port()
        cmd = [sys.executable, "-m", "core.api", "--host", "127.0.0.1", "--port", str(port), "--workers", str(n)]
        proc, log = procs.start(f"api-{db_name}-w{n}", cmd, env, ROOT)
        started.append((port, proc))
        if migrated:
            pending.append((port, proc, log))
        else:
            wait_http(f"http://127.0.0.1:{port}/healthz", proc, log)
            migrated = True
    for port, proc, log in pending:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc, log)
    return started


# In a child process: the bench process never imports Parley's settings, engine or caches.
TOKEN_SCRIPT = """
from core.app import startup
startup()  # migrations and the first admin (python -m core.api alone creates no admin)
from sqlmodel import Session, select
from core.api import create_token
from core.db import get_engine
from core.models import LimitPolicy, User
with Session(get_engine()) as session:
    admin = session.exec(select(User).where(User.username == "admin")).one()
    # Limits stay on (every request is checked and counted) but high enough never to refuse.
    session.add(LimitPolicy(user_id=admin.id or 0, requests_per_minute=1_000_000_000, requests_per_day=1_000_000_000,
                            tokens_per_day=1_000_000_000, budget_usd_per_month=1_000_000_000))
    session.commit()
    print("TOKEN=" + create_token(session=session, user_id=admin.id or 0, name="bench").token)
"""


def make_token(env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", TOKEN_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    for line in out.stdout.splitlines():
        if line.startswith("TOKEN="):
            return line.removeprefix("TOKEN=")
    raise RuntimeError(f"no token: {out.stderr[-2000:]}")


# ---------------------------------------------------------------------------------------------------- requests
class Failure(Exception):
    pass


@dataclass
class Target:
    key: str  # A, B, C; W1, W2 for `python -m core.api --workers N`
    label: str
    base_url: str
    api_key: str
    model: str
    pid: int | None  # the proxy's process (its children counted too); None: nothing between client and backend
    session: aiohttp.ClientSession | None = None

    def body(self, stream: bool) -> bytes:
        return self.stream_body if stream else self.plain_body

    @functools.cached_property
    def plain_body(self) -> bytes:
        return json.dumps({"model": self.model, "messages": MESSAGES, "max_completion_tokens": 64}).encode()

    @functools.cached_property
    def stream_body(self) -> bytes:
        # include_usage: LiteLLM drops the usage chunk without it, Parley too (as OpenAI does)
        return json.dumps({"model": self.model, "messages": MESSAGES, "max_completion_tokens": 64, "stream": True,
                           "stream_options": {"include_usage": True}}).encode()

    @functools.cached_property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}", "content-type": "application/json"}


@dataclass
class Sample:
    total_ms: float
    ttft_ms: float = 0.0


def check_usage(usage: Any) -> None:
    if not isinstance(usage, dict) or usage.get("prompt_tokens") != PROMPT_TOKENS \
            or usage.get("completion_tokens") != CHUNKS:
        raise Failure(f"usage {usage!r}")


async def plain(target: Target) -> Sample:
    assert target.session is not None
    start = time.perf_counter()
    async with target.session.post(f"{target.base_url}/chat/completions", data=target.body(False),
                                   headers=target.headers) as resp:
        raw = await resp.read()
    total = (time.perf_counter() - start) * 1000
    if resp.status != 200:
        raise Failure(f"HTTP {resp.status}: {raw[:200]!r}")
    body = json.loads(raw)
    text = body["choices"][0]["message"]["content"]
    if text != EXPECTED_TEXT:
        raise Failure(f"text {text!r}")
    check_usage(body.get("usage"))
    return Sample(total)


async def stream(target: Target) -> Sample:
    assert target.session is not None
    start, first, done, usage = time.perf_counter(), 0.0, 0.0, None
    parts: list[str] = []
    async with target.session.post(f"{target.base_url}/chat/completions", data=target.body(True),
                                   headers=target.headers) as resp:
        if resp.status != 200:
            raise Failure(f"HTTP {resp.status}: {(await resp.read())[:200]!r}")
        async for line in resp.content:  # one SSE line at a time
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                done = time.perf_counter()
                continue
            event = json.loads(data)
            usage = event.get("usage") or usage
            for choice in event.get("choices") or ():
                if content := (choice.get("delta") or {}).get("content"):
                    first = first or time.perf_counter()
                    parts.append(content)
    if not done:
        raise Failure("no [DONE]")
    if "".join(parts) != EXPECTED_TEXT:
        raise Failure(f"text {''.join(parts)!r}")
    check_usage(usage)
    return Sample((done - start) * 1000, (first - start) * 1000)


Call = Callable[[Target], Awaitable[Sample]]


@dataclass
class Tally:
    samples: list[Sample] = field(default_factory=list)
    errors: int = 0
    messages: list[str] = field(default_factory=list)

    async def run(self, call: Call, target: Target) -> None:
        try:
            self.samples.append(await call(target))
        except Exception as exc:  # counted and shown; the timings leave it out
            self.errors += 1
            if len(self.messages) < 3:
                self.messages.append(f"{type(exc).__name__}: {exc}"[:300])
            await asyncio.sleep(0.01)  # a target answering errors at once must not spin the client

    def report(self, phase: str, target: Target) -> None:
        if self.errors:
            print(f"    ! {phase} {target.key} {target.label}: {self.errors} failed, e.g. {self.messages}")


async def closed_loop(call: Call, target: Target, seconds: float, tally: Tally) -> float:
    """CONCURRENCY callers, each starting its next request as soon as one ends, until `seconds` are up; the
    elapsed time includes the drain of the last requests, so rate = completed / elapsed."""
    deadline = time.perf_counter() + seconds

    async def caller() -> None:
        while time.perf_counter() < deadline:
            await tally.run(call, target)

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------------- phases
Metrics = dict[str, dict[str, float]]  # metric -> target key -> value (one run)


def roots(targets: list[Target], backend_pid: int) -> dict[str, int]:
    found = {t.key: t.pid for t in targets if t.pid is not None}
    return {**found, "backend": backend_pid, "client": os.getpid()}


async def warm_up(targets: list[Target], seconds: float) -> None:
    for target in targets:
        tally = Tally()
        for _ in range(10):
            await tally.run(plain, target)
        for _ in range(5):
            await tally.run(stream, target)
        if tally.errors == 15:
            raise RuntimeError(f"{target.key} {target.label} fails every request: {tally.messages}")
        for call in (plain, stream):
            await closed_loop(call, target, seconds, tally)
        tally.report("warm-up", target)


def orders(targets: list[Target], n: int) -> Iterator[list[Target]]:
    for i in range(n):
        yield targets if i % 2 == 0 else targets[::-1]


async def interleaved(call: Call, targets: list[Target], n: int, backend_pid: int,
                      name: str, out: Metrics) -> dict[str, Tally]:
    """n requests per target at concurrency 1, in A,B,C / C,B,A order. CPU is read over the whole phase (a proxy's
    trailing work, logging and usage writes, lands after its answer) and divided by that target's own count."""
    tallies = {t.key: Tally() for t in targets}
    meter = roots(targets, backend_pid)
    before = cpu_seconds(meter)
    for order in orders(targets, n):
        for target in order:
            await tallies[target.key].run(call, target)
    await asyncio.sleep(0.3)
    after = cpu_seconds(meter)
    for target in targets:
        tally = tallies[target.key]
        tally.report(name, target)
        out.setdefault(f"errors_{name}", {})[target.key] = tally.errors
        if target.pid is not None and tally.samples:
            out.setdefault(f"cpu_{name}", {})[target.key] = 1000 * (after[target.key] - before[target.key]) / len(
                tally.samples)
    return tallies


def keep_spread(out: Metrics, name: str, key: str, values: list[float]) -> None:
    """A phase's median and p95 for one target, as out[name_median][key] and out[name_p95][key]."""
    median, p95 = summary(values)
    out.setdefault(f"{name}_median", {})[key] = median
    out.setdefault(f"{name}_p95", {})[key] = p95


async def latency_phase(targets: list[Target], n: int, backend_pid: int, out: Metrics) -> None:
    tallies = await interleaved(plain, targets, n, backend_pid, "plain_c1", out)
    for key, tally in tallies.items():
        if tally.samples:
            keep_spread(out, "plain_c1", key, [s.total_ms for s in tally.samples])


async def ttft_phase(targets: list[Target], n: int, backend_pid: int, out: Metrics) -> None:
    tallies = await interleaved(stream, targets, n, backend_pid, "stream_c1", out)
    for key, tally in tallies.items():
        if tally.samples:
            keep_spread(out, "ttft_c1", key, [s.ttft_ms for s in tally.samples])
            out.setdefault("stream_c1_total", {})[key] = statistics.median(s.total_ms for s in tally.samples)


async def rate_phase(call: Call, targets: list[Target], profile: Profile, backend_pid: int, name: str,
                     out: Metrics) -> None:
    """Closed loop at CONCURRENCY in slices A,B,C,C,B,A,...: completed per second, proxy CPU per request, and the
    cores the client and the backend used (near 1.0 would mean they, not the proxy, set the pace)."""
    tallies = {t.key: Tally() for t in targets}
    elapsed = dict.fromkeys(tallies, 0.0)
    used: dict[str, dict[str, float]] = {t.key: {} for t in targets}
    meter = roots(targets, backend_pid)
    for order in orders(targets, profile.rounds):
        for target in order:
            before = cpu_seconds(meter)
            elapsed[target.key] += await closed_loop(call, target, profile.slice_s, tallies[target.key])
            after = cpu_seconds(meter)
            for process in (target.key, "backend", "client"):
                if process in after:
                    used[target.key][process] = used[target.key].get(process, 0.0) + after[process] - before[process]
            await asyncio.sleep(0.3)  # let the last slice's trailing work finish outside the next one
    for target in targets:
        tally, key = tallies[target.key], target.key
        tally.report(name, target)
        done = len(tally.samples)
        out.setdefault(f"rate_{name}", {})[key] = done / elapsed[key]
        out.setdefault(f"errors_{name}", {})[key] = tally.errors
        if target.pid is not None and done:
            out.setdefault(f"cpu_{name}", {})[key] = 1000 * used[key][key] / done
            out.setdefault(f"cores_{name}", {})[key] = used[key][key] / elapsed[key]
        out.setdefault(f"client_cores_{name}", {})[key] = used[key]["client"] / elapsed[key]
        out.setdefault(f"backend_cores_{name}", {})[key] = used[key]["backend"] / elapsed[key]


async def script_run(port: int) -> float:
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


def page_loads(port: int, n: int) -> tuple[float, float]:
    """Medians of n page loads: `GET /` (the app's HTML) and a script run. Runs on its own thread and event loop,
    beside the load the bench's main loop generates."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    gets, runs = [], []
    for _ in range(n):
        start = time.perf_counter()
        with opener.open(f"http://127.0.0.1:{port}/", timeout=30) as resp:
            resp.read()
        gets.append((time.perf_counter() - start) * 1000)
        runs.append(asyncio.run(script_run(port)))
    return statistics.median(gets), statistics.median(runs)


async def ui_pass(port: int, n: int, load: Target | None) -> tuple[float, float]:
    stop = asyncio.Event()
    tally = Tally()

    async def caller(target: Target) -> None:
        while not stop.is_set():
            await tally.run(stream, target)

    callers = [asyncio.create_task(caller(load)) for _ in range(CONCURRENCY)] if load else []
    if load:
        await asyncio.sleep(0.5)  # all 32 streams in flight before the first page
    try:
        return await asyncio.to_thread(page_loads, port, n)
    finally:
        stop.set()
        await asyncio.gather(*callers)
        if load:
            tally.report("ui load", load)


async def ui_phase(port: int, direct: Target, parley: Target, n: int, out: Metrics,
                   beside: Target | None = None) -> None:
    idle = await ui_pass(port, n, None)
    control = await ui_pass(port, n, direct)  # the same client load, not through Parley: what the machine loses
    busy = await ui_pass(port, n, parley)
    passes = [("idle", idle), ("direct", control), ("parley", busy)]
    if beside is not None:  # the team topology: /v1 on `python -m core.api`, the portal process only serves pages
        passes.append(("beside", await ui_pass(port, n, beside)))
    for label, (get_ms, run_ms) in passes:
        out.setdefault("ui_get", {})[label] = get_ms
        out.setdefault("ui_script", {})[label] = run_ms


async def open_sessions(targets: list[Target]) -> None:
    for target in targets:
        # keep-alive shorter than the servers' (uvicorn: 5 s), so an idle pooled connection is never reused as
        # the server closes it; no cookies, no proxies from the environment
        connector = aiohttp.TCPConnector(limit=2 * CONCURRENCY, keepalive_timeout=2.0)
        target.session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60),
                                               trust_env=False, cookie_jar=aiohttp.DummyCookieJar())


async def close_sessions(targets: list[Target]) -> None:
    for target in targets:
        if target.session is not None:
            await target.session.close()
            target.session = None


async def measure(targets: list[Target], profile: Profile, backend_pid: int, ui_port: int | None,
                  phases: list[str], beside: Target | None = None) -> list[Metrics]:
    """All runs against running processes: warm-up once, then per run every phase; one Metrics per run. beside: an
    API server next to the portal (ui_port), loaded in the UI phase only."""
    await open_sessions(targets + ([beside] if beside else []))
    try:
        started = time.perf_counter()
        await warm_up(targets + ([beside] if beside else []), profile.warm_s)
        print(f"  warm-up {time.perf_counter() - started:.0f} s")
        results = []
        for run in range(profile.runs):
            out: Metrics = {}
            started = time.perf_counter()
            if "c1" in phases:
                await latency_phase(targets, profile.plain_c1, backend_pid, out)
                await ttft_phase(targets, profile.stream_c1, backend_pid, out)
            await rate_phase(plain, targets, profile, backend_pid, "plain_c32", out)
            if "stream" in phases:
                await rate_phase(stream, targets, profile, backend_pid, "stream_c32", out)
            if ui_port is not None:
                await ui_phase(ui_port, targets[0], targets[-1], profile.page_loads, out, beside)
            print(f"  run {run + 1}/{profile.runs} done in {time.perf_counter() - started:.0f} s")
            results.append(out)
        return results
    finally:
        await close_sessions(targets + ([beside] if beside else []))


def run_async(work: Coroutine[Any, Any, list[Metrics]]) -> list[Metrics]:
    try:
        import uvloop  # the client's loop: the faster one, so the client is not what sets the pace
    except ImportError:
        return asyncio.run(work)
    return uvloop.run(work)


# ---------------------------------------------------------------------------------------------------- report
def spread(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    mid = format(statistics.median(values), fmt)
    return mid if len(values) == 1 else f"{mid} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def series(runs: list[Metrics], metric: str, key: str) -> list[float]:
    return [run[metric][key] for run in runs if key in run.get(metric, {})]


def derived(runs: list[Metrics], metric: str, fn: Callable[[dict[str, float]], float | None]) -> list[float]:
    """A per-run figure computed from the targets' values in that same run (added latency, a ratio)."""
    values = [fn(run.get(metric, {})) for run in runs]
    return [v for v in values if v is not None]


def added(key: str) -> Callable[[dict[str, float]], float | None]:
    return lambda row: row[key] - row["A"] if key in row and "A" in row else None


def ratio(top: str, bottom: str) -> Callable[[dict[str, float]], float | None]:
    return lambda row: row[top] / row[bottom] if top in row and row.get(bottom) else None


def verdict(values: list[float], ok: Callable[[float], bool], goal: str) -> str:
    if not values:
        return f"{goal} (n/a)"
    return f"{goal} {'✓' if ok(statistics.median(values)) else '✗'}"


def print_leg(title: str, runs: list[Metrics], keys: list[str]) -> None:
    labels = {"A": "A direct", "B": "B LiteLLM", "C": "C Parley"}
    width = 24
    print(f"\n== {title}: median of {len(runs)} run(s) (range)")
    print(f"{'':34}" + "".join(f"{labels[k]:>{width}}" for k in keys) + f"{'C/B':>18}   target")

    def row(name: str, metric: str, fmt: str, cb: str = "", target: str = "") -> None:
        cells = "".join(f"{spread(series(runs, metric, k), fmt):>{width}}" for k in keys)
        print(f"{name:34}{cells}{cb:>18}   {target}")

    def added_row(name: str, metric: str) -> None:
        cells = [f"{'':>{width}}"]
        cells += [f"{spread(derived(runs, metric, added(k)), '+.1f'):>{width}}" for k in keys[1:]]
        parley = derived(runs, metric, added("C"))
        print(f"{name:34}{''.join(cells)}{'':>18}   "
              + verdict(parley, lambda v: v <= ADDED_MS_TARGET, f"C <= +{ADDED_MS_TARGET:.0f} ms"))

    def rate_row(name: str, metric: str) -> None:
        cb = derived(runs, metric, ratio("C", "B"))
        row(name, metric, ".1f", spread(cb, ".2f") + "x" if cb else "n/a",
            verdict(cb, lambda v: v >= RATIO_TARGET, f">= {RATIO_TARGET:.0f}x"))

    row("plain c=1 latency median, ms", "plain_c1_median", ".1f")
    added_row("  added over direct, ms", "plain_c1_median")
    row("plain c=1 latency p95, ms", "plain_c1_p95", ".1f")
    row("stream c=1 first token median, ms", "ttft_c1_median", ".1f")
    added_row("  added over direct, ms", "ttft_c1_median")
    row("stream c=1 first token p95, ms", "ttft_c1_p95", ".1f")
    row("stream c=1 to [DONE] median, ms", "stream_c1_total", ".1f")
    rate_row(f"plain c={CONCURRENCY} requests/s", "rate_plain_c32")
    rate_row(f"stream c={CONCURRENCY} streams/s", "rate_stream_c32")
    for phase in ("plain_c1", "stream_c1", "plain_c32", "stream_c32"):
        cb = derived(runs, f"cpu_{phase}", ratio("C", "B"))
        row(f"proxy CPU ms/request, {phase.replace('_c', ' c=')}", f"cpu_{phase}", ".2f",
            spread(cb, ".2f") + "x" if cb else "")
    row("proxy cores busy, plain c=32", "cores_plain_c32", ".2f")
    row("proxy cores busy, stream c=32", "cores_stream_c32", ".2f")
    row("client cores, plain c=32", "client_cores_plain_c32", ".2f")
    row("backend cores, plain c=32", "backend_cores_plain_c32", ".2f")
    errors = {k: sum(sum(series(runs, m, k)) for m in {m for r in runs for m in r if m.startswith("errors_")})
              for k in keys}
    print(f"{'failed requests (all phases)':34}" + "".join(f"{errors[k]:>{width}.0f}" for k in keys))
    print_ui(runs)


def print_ui(runs: list[Metrics]) -> None:
    if not any("ui_script" in run for run in runs):
        return
    for metric, what in (("ui_get", "GET /"), ("ui_script", "script run (websocket)")):
        idle = series(runs, metric, "idle")
        line = f"UI {what}, ms: idle {spread(idle, '.1f')}"
        for load, label in (("direct", "32 streams straight to the backend"), ("parley", "32 streams via Parley"),
                            ("beside", "32 streams via `python -m core.api` beside it")):
            if not series(runs, metric, load):
                continue
            factor = derived(runs, metric, ratio(load, "idle"))
            line += f"; with {label} {spread(series(runs, metric, load), '.1f')} = {spread(factor, '.2f')}x"
        for load, label in (("parley", "via the portal"), ("beside", "via core.api beside it")):
            if series(runs, metric, load):
                factor = derived(runs, metric, ratio(load, "idle"))
                line += "   " + verdict(factor, lambda v: v <= UI_RATIO_TARGET, f"{label} <= {UI_RATIO_TARGET:.0f}x")
        print(line)


def print_workers(title: str, runs: list[Metrics], counts: list[int]) -> None:
    print(f"\n== {title} + Redis: `python -m core.api --workers N`, plain c={CONCURRENCY}, "
          f"median of {len(runs)} run(s) (range)")
    for n in counts:
        key = f"W{n}"
        line = (f"  {n} worker(s): {spread(series(runs, 'rate_plain_c32', key), '.1f')} requests/s, "
                f"CPU {spread(series(runs, 'cpu_plain_c32', key), '.2f')} ms/request, "
                f"{spread(series(runs, 'cores_plain_c32', key), '.2f')} cores")
        if n != counts[0]:
            scale = derived(runs, "rate_plain_c32", ratio(key, f"W{counts[0]}"))
            line += f"; x{spread(scale, '.2f')} of {counts[0]} worker(s)"
            if n == 2 and counts[0] == 1:
                line += "   " + verdict(scale, lambda v: v >= WORKERS_RATIO_TARGET, f">= {WORKERS_RATIO_TARGET}x")
        print(line)
    errors = sum(sum(series(runs, "errors_plain_c32", f"W{n}")) for n in counts)
    print(f"  failed requests: {errors:.0f}")


# ---------------------------------------------------------------------------------------------------- legs
@dataclass
class Shared:
    """What every database leg uses: the backend and LiteLLM run once for the whole bench."""
    procs: Processes
    tmp: Path
    profile: Profile
    backend_url: str
    backend_pid: int
    litellm: tuple[str, int] | None
    workers: list[int]
    portal: bool
    phases: list[str]


def base_targets(shared: Shared) -> list[Target]:
    targets = [Target("A", "direct", shared.backend_url, "sk-good-key", "gpt-4o-mini", None)]
    if shared.litellm:
        url, pid = shared.litellm
        targets.append(Target("B", "LiteLLM", url, LITELLM_MASTER_KEY, "gpt-4o-mini", pid))
    return targets


def portal_leg(shared: Shared, db_name: str, env: dict[str, str]) -> str | None:
    """Parley's portal process beside direct and LiteLLM; returns the token made on its database."""
    port, proc = start_portal(shared.procs, env, f"portal-{db_name}")
    # The team topology's split (compose, make cluster): the API on its own server, one worker, beside the portal.
    api_port, api_proc = start_api_servers(shared.procs, env, [1], f"{db_name}-beside", migrated=True)[0]
    try:
        token = make_token(env)
        targets = base_targets(shared) + [Target("C", "Parley", f"http://127.0.0.1:{port}/v1", token,
                                                 "openai/gpt-4o-mini", proc.pid)]
        beside = Target("S", "core.api beside", f"http://127.0.0.1:{api_port}/v1", token, "openai/gpt-4o-mini",
                        api_proc.pid)
        runs = run_async(measure(targets, shared.profile, shared.backend_pid, port, shared.phases, beside))
        print_leg(f"{db_name}: A direct / B LiteLLM / C Parley portal (streamlit run server.py)", runs,
                  [t.key for t in targets])
        return token
    finally:
        shared.procs.stop(api_proc)
        shared.procs.stop(proc)


def workers_leg(shared: Shared, db_name: str, env: dict[str, str], token: str | None) -> None:
    if not API_MAIN.exists():
        print(f"\n(--api-workers skipped: {API_MAIN.relative_to(ROOT)} does not exist yet)")
        return
    # Several workers refuse to start without a shared store for request windows: every count gets Redis here.
    env = {**env, "PARLEY_REDIS_URL": env.get("PARLEY_REDIS_URL") or REDIS_URL}
    started = start_api_servers(shared.procs, env, shared.workers, db_name, migrated=token is not None)
    try:
        token = token or make_token(env)
        targets = [Target(f"W{n}", f"{n} worker(s)", f"http://127.0.0.1:{port}/v1", token, "openai/gpt-4o-mini",
                          proc.pid) for n, (port, proc) in zip(shared.workers, started, strict=True)]
        runs = run_async(measure(targets, shared.profile, shared.backend_pid, None, ["rate"]))
        print_workers(db_name, runs, shared.workers)
    finally:
        for _, proc in started:
            shared.procs.stop(proc)


def clear_redis() -> None:
    """Parley's counters in the bench's Redis database: each leg's database is new (user 1 again), so counters a
    previous leg or run left there would be taken for its spend."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        for pattern in ("parley:*", "LIMITS:*"):
            for key in client.scan_iter(match=pattern, count=1000):
                client.delete(key)
    finally:
        client.close()


def leg(shared: Shared, db_name: str, db_url: str) -> None:
    data = shared.tmp / db_name
    data.mkdir()
    env = parley_env(data, db_url, shared.backend_url, REDIS_URL if db_name == "postgresql" else None)
    print(f"\n### {db_name}{' + Redis ' + REDIS_URL if db_name == 'postgresql' else ''}")
    uses_redis = db_name == "postgresql" or bool(shared.workers)
    if uses_redis:
        clear_redis()
    try:
        token = portal_leg(shared, db_name, env) if shared.portal else None
        if shared.workers:
            workers_leg(shared, db_name, env, token)
    finally:
        if uses_redis:
            clear_redis()


# ---------------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="?", type=int, help="runs per database (default 3; --quick: 1)")
    parser.add_argument("--quick", action="store_true", help="1 run, short phases: a smoke check (~4 min)")
    parser.add_argument("--db", choices=("all", "sqlite", "postgresql"), default="all")
    parser.add_argument("--api-workers", action="append", default=[], metavar="N[,N]",
                        help="also measure `python -m core.api --workers N` (repeatable, or 1,2)")
    parser.add_argument("--no-portal", action="store_true", help="only the --api-workers servers, no portal legs")
    parser.add_argument("--no-litellm", action="store_true", help="leave B out even when LiteLLM is installed")
    args = parser.parse_args(argv)
    args.workers = sorted({int(n) for value in args.api_workers for n in value.split(",") if n.strip()})
    if args.runs is not None and not 1 <= args.runs <= 10:
        parser.error("runs: 1 to 10")
    if args.no_portal and not args.workers:
        parser.error("--no-portal needs --api-workers")
    return args


def cpu_reference() -> float:
    """Seconds for a pure-Python 5M-add loop: the VM's speed drifts, so it is printed at start and end."""
    start, x = time.perf_counter(), 0
    for i in range(5_000_000):
        x += i
    return time.perf_counter() - start


def start_litellm_if_installed(procs: Processes, tmp: Path, backend_url: str, wanted: bool) -> tuple[str, int] | None:
    if not wanted:
        print("B (LiteLLM) left out: --no-litellm")
        return None
    if not (LITELLM_VENV / "bin" / "litellm").exists():
        print(f"B (LiteLLM) skipped: no {LITELLM_VENV}/bin/litellm. Install it (own venv, ~2 min): "
              "bench/litellm/install.sh  (path: PARLEY_BENCH_LITELLM_VENV)")
        return None
    try:
        litellm = start_litellm(procs, tmp, backend_url)
    except RuntimeError as exc:  # a broken venv costs B, not the whole bench
        print(f"B (LiteLLM) skipped: it did not start ({exc}); reinstall with bench/litellm/install.sh")
        return None
    print(f"B: LiteLLM {litellm_version()} proxy, 1 worker, pid {litellm[1]}")
    return litellm


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    profile = QUICK if args.quick else DEFAULT
    if args.runs:
        profile = dataclasses.replace(profile, runs=args.runs)
    tmp = Path(tempfile.mkdtemp(prefix="parley-bench-api-"))
    logs = tmp / "logs"
    logs.mkdir()
    procs = Processes(logs)
    print(f"backend: first token {FIRST_MS} ms, {CHUNKS} words {GAP_MS} ms apart (plain replies: the same wait); "
          f"{profile.runs} run(s); CPU reference {cpu_reference():.2f} s; server logs in {logs}")
    try:
        backend_url, backend_pid = start_backend(procs, tmp)
        litellm = start_litellm_if_installed(procs, tmp, backend_url, not args.no_litellm)
        phases = ["c1", "rate", "stream"]
        shared = Shared(procs, tmp, profile, backend_url, backend_pid, litellm, args.workers, not args.no_portal,
                        phases)
        with bench_databases() as dbs:
            if len(dbs) == 1 and args.db != "sqlite":
                print("PostgreSQL leg skipped: set PARLEY_BENCH_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1/test)")
            for name, url in dbs:
                if args.db in ("all", name):
                    leg(shared, name, url)
    finally:
        procs.stop_all()
        for data in tmp.iterdir():  # the databases and data dirs go; the servers' logs stay for a look
            if data.is_dir() and data != logs:
                shutil.rmtree(data, ignore_errors=True)
        print(f"\nCPU reference at the end {cpu_reference():.2f} s; server logs kept in {logs}")


if __name__ == "__main__":
    main()
