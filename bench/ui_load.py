"""Many people on one instance: N concurrent UI sessions through Streamlit's own websocket protocol (no browser).

Each session connects to /_stcore/stream, logs in as its own user through the login form (BackMsg rerun with the
form's widget states), then sends one chat message through the chat input and reads the reply as it streams from a
fake OpenAI-protocol provider writing 20 tokens/s. Measures time to first token (the message sent -> the first
delta carrying the reply's first token), errors, and the server's CPU time and memory per session; baseline: one
session alone, in the same run. Targets: 0 errors; p95 TTFT at 50 sessions at most 2x a single session's.
All sessions log in at once and stay connected; then each sends a message at a random moment within a window
(default 10 s: 5 messages/s, ~10 replies streaming at any time), then all send again at the same instant.
Usage: python bench/ui_load.py [sessions=50] [single runs=5] [window seconds=10]
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import websockets  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402

from deploy.cluster import free_port, wait_http  # noqa: E402
from tests.fakes.provider_server import FakeProviderServer, Reply  # noqa: E402

PASSWORD = "Load-pass-1234"
TOKENS = [f"tok{i:02d} " for i in range(40)]  # 2 s at 20 tokens/s
TOKEN_DELAY = 1 / 20
TIMEOUT = 120.0


@dataclass
class Page:
    """What one script run showed: widgets by label, markdown bodies, errors."""

    widgets: dict[tuple[str, str], str] = field(default_factory=dict)  # (form id, label) -> widget id
    texts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def read(self, msg: ForwardMsg) -> None:
        if not msg.HasField("delta") or not msg.delta.HasField("new_element"):
            return
        element = msg.delta.new_element
        kind = element.WhichOneof("type")
        if kind == "text_input":
            self.widgets[(element.text_input.form_id, element.text_input.label)] = element.text_input.id
        elif kind == "button" and element.button.is_form_submitter:
            self.widgets[(element.button.form_id, element.button.label)] = element.button.id
        elif kind == "chat_input":
            self.widgets[("", "chat_input")] = element.chat_input.id
        elif kind == "markdown":
            self.texts.append(element.markdown.body)
        elif kind == "exception":
            self.errors.append(element.exception.message)
        elif kind == "alert" and element.alert.format == 1:  # ERROR
            self.errors.append(element.alert.body)


class UiSession:
    def __init__(self, url: str) -> None:
        self.url = url.replace("http://", "ws://") + "/_stcore/stream"
        self.ws: websockets.ClientConnection | None = None

    async def __aenter__(self) -> UiSession:
        self.ws = await websockets.connect(self.url, subprotocols=[websockets.Subprotocol("streamlit")],
                                           max_size=None, open_timeout=TIMEOUT)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def run(self, states: list[WidgetState], *, until: str | None = None) -> tuple[Page, float | None]:
        """One rerun with these widget states; returns the page once runs settle, and when `until` first showed."""
        assert self.ws is not None
        back = BackMsg()
        back.rerun_script.query_string = ""
        back.rerun_script.widget_states.widgets.extend(states)
        started = time.perf_counter()
        await self.ws.send(back.SerializeToString())
        page, seen_at, finished = Page(), None, False
        deadline = started + TIMEOUT
        while True:
            # A finished run may be followed by another (components report back, a login reruns): settle first.
            wait = 0.4 if finished else max(0.1, deadline - time.perf_counter())
            try:
                raw = await asyncio.wait_for(self.ws.recv(), timeout=wait)
            except TimeoutError as exc:
                if finished:
                    return page, seen_at
                raise TimeoutError("no end of run before the timeout") from exc
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            page.read(msg)
            kind = msg.WhichOneof("type")
            if until and seen_at is None and any(until in t for t in page.texts[-3:]):
                seen_at = time.perf_counter() - started
            if kind == "script_finished":
                finished = msg.script_finished == 0  # FINISHED_SUCCESSFULLY (not: ended early for a rerun)
            elif kind == "session_status_changed" and msg.session_status_changed.script_is_running:
                finished = False


def _state(widget_id: str, **value: object) -> WidgetState:
    state = WidgetState(id=widget_id)
    for name, given in value.items():
        if name == "chat":
            state.chat_input_value.data = str(given)
        else:
            setattr(state, name, given)
    return state


async def log_in(session: UiSession, username: str) -> str:
    """Log in through the login form; the chat input's widget id."""
    page, _ = await session.run([])
    form = next((f for f, label in page.widgets if label == "Log in"), None)
    user, password = page.widgets.get((form or "", "Username")), page.widgets.get((form or "", "Password"))
    if not (form and user and password):
        raise RuntimeError(f"no login form: {sorted(page.widgets)}")
    page, _ = await session.run([_state(user, string_value=username), _state(password, string_value=PASSWORD),
                                 _state(page.widgets[(form, "Log in")], trigger_value=True)])
    chat = page.widgets.get(("", "chat_input"))
    if chat is None:
        raise RuntimeError(f"not logged in: {page.errors or sorted(page.widgets)}")
    return chat


async def chat(session: UiSession, chat_input: str, text: str) -> float:
    """Send one message; the time until the reply's first token showed (raises unless it streamed to the end)."""
    page, ttft = await session.run([_state(chat_input, chat=text)], until=TOKENS[0].strip())
    if page.errors:
        raise RuntimeError(page.errors[0])
    if ttft is None or not any(TOKENS[-1].strip() in t for t in page.texts):
        raise RuntimeError("the reply did not stream to the end")
    return ttft


def _proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds, resident bytes) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = next(int(line.split()[1]) * 1024 for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    return cpu, rss


def _start_server(tmp: Path, provider: FakeProviderServer, users: int) -> tuple[str, subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PARLEY_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"PARLEY_DATA_DIR": str(tmp / "data"), "PARLEY_ADMIN_PASSWORD": "Admin-pass-123",
                "PARLEY_LOGIN__SLEEP_SECONDS": "0", "OPENAI_API_KEY": "sk-load", "PARLEY_CACHE__ENABLED": "false",
                "PARLEY_PROVIDERS__OPENAI__BASE_URL": provider.openai_url, "PARLEY_PROVIDERS__OPENAI__MAX_RETRIES": "0",
                "PARLEY_CHAT__DEFAULT_PROVIDER": "openai", "PARLEY_CHAT__FALLBACK": "[]",
                "PARLEY_LOGIN__MAX_FAILURES": "1000"})
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", f"""
from sqlmodel import Session
from core.app import startup
from core.db import get_engine
from tests.conftest import add_user
startup()
with Session(get_engine()) as session:
    for n in range({users}):
        add_user(session, f"load{{n:03d}}", "{PASSWORD}")
"""], cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    log = tmp / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(port),
                                 "--server.address", "127.0.0.1", "--server.headless", "true",
                                 "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                                cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/readyz", proc, log)
    return url, proc


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _timed_login(session: UiSession, username: str) -> tuple[float, str]:
    started = time.perf_counter()
    chat_input = await log_in(session, username)
    return time.perf_counter() - started, chat_input


async def _spread_chat(session: UiSession, chat_input: str, delay: float, text: str) -> float:
    await asyncio.sleep(delay)
    return await chat(session, chat_input, text)


def _report(name: str, results: list[object], single: float) -> list[BaseException]:
    values = [r for r in results if isinstance(r, float)]
    errors = [r for r in results if isinstance(r, BaseException)]
    if values:
        p50, p95 = _pct(values, 0.5), _pct(values, 0.95)
        print(f"  {name}: TTFT p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms ({p95 / single:.2f}x the single "
              f"session's median), errors {len(errors)} of {len(results)}")
    else:
        print(f"  {name}: every session failed")
    return errors


async def main(sessions: int, single_runs: int, window: float) -> None:
    provider = FakeProviderServer().start()
    provider.next_reply = lambda _protocol: Reply(chunks=TOKENS, chunk_delay=TOKEN_DELAY)  # type: ignore[method-assign]
    rnd = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        url, proc = _start_server(Path(tmp), provider, sessions)
        try:
            singles = []
            for n in range(single_runs):  # the baseline: one session alone, same server, same run
                async with UiSession(url) as alone:
                    singles.append(await chat(alone, await log_in(alone, f"load{n % sessions:03d}"), "Hello"))
            single = statistics.median(singles)
            cpu0, rss0 = _proc_stats(proc.pid)
            clients = [UiSession(url) for _ in range(sessions)]
            await asyncio.gather(*(c.__aenter__() for c in clients))
            logins = await asyncio.gather(*(_timed_login(c, f"load{n:03d}") for n, c in enumerate(clients)),
                                          return_exceptions=True)
            cpu1, rss1 = _proc_stats(proc.pid)
            ready = [(c, r[1]) for c, r in zip(clients, logins, strict=True) if isinstance(r, tuple)]
            spread = await asyncio.gather(*(_spread_chat(c, i, rnd.uniform(0, window), "Count for me")
                                            for c, i in ready), return_exceptions=True)
            cpu2, rss2 = _proc_stats(proc.pid)
            burst = await asyncio.gather(*(chat(c, i, "And again") for c, i in ready), return_exceptions=True)
            await asyncio.gather(*(c.__aexit__() for c in clients))
            failures = [line for line in (Path(tmp) / "server.log").read_text().splitlines()
                        if '"level": "ERROR"' in line]
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            provider.stop()
    login_times = [r[0] for r in logins if isinstance(r, tuple)]
    print(f"UI load on one instance (SQLite, embedded defaults; fake provider streaming 20 tokens/s, 40 tokens): "
          f"{sessions} concurrent sessions, each logged in through the form and chatting")
    print(f"  single session: TTFT median {single * 1000:.0f} ms over {single_runs} runs")
    if login_times:
        print(f"  {sessions} logins at once: p50 {_pct(login_times, 0.5):.2f} s, p95 {_pct(login_times, 0.95):.2f} s "
              f"(bcrypt), failed {sessions - len(login_times)}")
    errors = [r for r in logins if isinstance(r, BaseException)]
    errors += _report(f"{len(ready)} sessions sending within {window:.0f} s", spread, single)
    errors += _report(f"{len(ready)} sessions sending at the same instant", burst, single)
    print(f"  errors: {len(errors)} (target 0)" + (f"; first: {errors[0]!r}" if errors else ""))
    per_reply = (cpu2 - cpu1) / max(1, len(ready)) * 1000
    print(f"  server: {(cpu1 - cpu0) / sessions * 1000:.0f} ms CPU per login, {per_reply:.0f} ms CPU per streamed "
          f"reply; {(rss1 - rss0) / sessions / 1e6:.2f} MB more memory per logged-in session "
          f"(RSS {rss0 / 1e6:.0f} -> {rss1 / 1e6:.0f} MB; {rss2 / 1e6:.0f} MB after the replies)")
    if failures:
        print("  server errors (first):", failures[0][:2000])


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    spread_over = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    asyncio.run(main(count, runs, spread_over))
