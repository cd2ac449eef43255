"""`make cluster`: the team deployment without Docker — nginx in front of two portal instances and two API servers
(`python -m core.api`, which serve /v1/) on local ports.

All of them use the PostgreSQL and Redis named by DATABASE_URL / REDIS_URL and share one set of secrets
(generated once into data/secrets.env before they start, or taken from the environment). Ctrl-C stops everything
this started, by PID. The cluster tests start the same topology through the Cluster class.

nginx connects to the instances from PROXY_ADDRESS (another loopback address than the clients' 127.0.0.1), and
the instances believe X-Forwarded-For from that address only (uvicorn's FORWARDED_ALLOW_IPS): a client on this
machine that talks to an instance directly cannot choose the address its failed logins are counted against.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx" / "parley.conf.template"
PROXY_ADDRESS = "127.0.0.2"  # Linux answers on all of 127.0.0.0/8
NGINX_MAIN = """worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    # Which instance served what (the tests read it): never sent to a client.
    log_format parley '$remote_addr "$request" $status upstream=$upstream_addr status=$upstream_status '
                      'time=$upstream_response_time lb=$cookie_parley_lb';
    access_log {run}/access.log parley;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    include {run}/parley.conf;
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise RuntimeError("nginx is not installed: `make cluster` / `make test` install Debian's nginx")
    return found


def render_site(listen: str, upstreams: list[str], apis: list[str] | None = None,
                proxy_address: str = PROXY_ADDRESS) -> str:
    """The template with this cluster's addresses (the same names the nginx image substitutes): two portal
    instances, and two API servers for /v1/ (by default the portal instances, which serve /v1/ too)."""
    text = TEMPLATE.read_text()
    apis = apis or upstreams
    values = {"PARLEY_LISTEN": listen, "PARLEY_UPSTREAM_1": upstreams[0], "PARLEY_UPSTREAM_2": upstreams[1],
              "PARLEY_API_1": apis[0], "PARLEY_API_2": apis[1], "PARLEY_PROXY_ADDRESS": proxy_address}
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text


def start_nginx(run_dir: Path, port: int, upstreams: list[str],
                apis: list[str] | None = None) -> subprocess.Popen[bytes]:
    """nginx on 127.0.0.1:port in front of upstreams (two "host:port") and API servers (two more, or the same),
    its files under run_dir; answering."""
    (run_dir / "parley.conf").write_text(render_site(f"127.0.0.1:{port}", upstreams, apis))
    (run_dir / "nginx.conf").write_text(NGINX_MAIN.format(run=run_dir))
    proc = subprocess.Popen([nginx_binary(), "-p", str(run_dir), "-c", str(run_dir / "nginx.conf"),
                             "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}/livez", proc, run_dir / "error.log")
    return proc


def instance_command(port: int) -> list[str]:
    """One instance on 127.0.0.1:port, as the cluster and the tests start it (`streamlit run server.py`)."""
    return [sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(port),
            "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none"]


def api_command(port: int, workers: int) -> list[str]:
    """One API server on 127.0.0.1:port with `workers` worker processes (`python -m core.api`)."""
    return [sys.executable, "-m", "core.api", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]


def wait_http(url: str, proc: subprocess.Popen[bytes] | None, log: Path | None, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"{url}: process exited early\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


@dataclass
class Instance:
    """A portal instance, or an API server (`command` given)."""

    name: str
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    command: list[str] | None = None

    def argv(self) -> list[str]:
        return self.command or instance_command(self.port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    """nginx on `port` in front of two portal instances and two API servers (`api_workers` processes each);
    start() / stop(), or a with-block."""

    database_url: str
    redis_url: str
    data_dir: Path
    port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    api_workers: int = 1
    instances: list[Instance] = field(default_factory=list)
    apis: list[Instance] = field(default_factory=list)
    nginx: subprocess.Popen[bytes] | None = None
    chroma: subprocess.Popen[bytes] | None = None
    chroma_port: int = 0
    run_dir: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def instance_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") or k.startswith("PARLEY_TEST_")}
        env.update({"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
                    "PARLEY_DATA_DIR": str(self.data_dir),
                    "FORWARDED_ALLOW_IPS": PROXY_ADDRESS})  # nginx's X-Forwarded-For, and no one else's
        if self.chroma_port:  # knowledge bases: one vector store server for both (embedded Chroma is per process)
            env["CHROMA_URL"] = f"http://127.0.0.1:{self.chroma_port}"
        env.update(self.env)
        return env

    def start(self) -> Cluster:
        self.port = self.port or free_port()
        self.run_dir = Path(tempfile.mkdtemp(prefix="parley-cluster-"))
        self.chroma_port = free_port()
        chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
        self.chroma = subprocess.Popen([chroma, "run", "--path", str(self.data_dir / "chroma-server"), "--host",
                                        "127.0.0.1", "--port", str(self.chroma_port)], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.STDOUT, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
        env = self.instance_env()
        # Secrets first, once: two instances starting together must not each generate their own. (The vector store
        # starts meanwhile: the instances need it, this does not.)
        subprocess.run([sys.executable, "-c", "from core.app import startup; startup()"], cwd=ROOT, env=env,
                       check=True)
        wait_http(f"http://127.0.0.1:{self.chroma_port}/api/v2/heartbeat", self.chroma, None)
        for n in (1, 2):
            self.instances.append(Instance(f"parley{n}", free_port(), self.run_dir / f"parley{n}.log"))
        for n in (1, 2):
            port = free_port()
            self.apis.append(Instance(f"api{n}", port, self.run_dir / f"api{n}.log",
                                      command=api_command(port, self.api_workers)))
        for instance in self.instances + self.apis:
            self.start_instance(instance)
        for instance in self.instances + self.apis:
            assert instance.proc is not None
            wait_http(f"{instance.url}/healthz", instance.proc, instance.log)
        self.nginx = start_nginx(self.run_dir, self.port, [f"127.0.0.1:{i.port}" for i in self.instances],
                                 [f"127.0.0.1:{i.port}" for i in self.apis])
        return self

    def start_instance(self, instance: Instance) -> None:
        with instance.log.open("ab") as out:
            instance.proc = subprocess.Popen(instance.argv(), cwd=ROOT, env=self.instance_env(), stdout=out,
                                             stderr=subprocess.STDOUT)

    def restart(self, instance: Instance) -> None:
        """Start a stopped (or killed) instance again on its port."""
        self.start_instance(instance)
        assert instance.proc is not None
        wait_http(f"{instance.url}/healthz", instance.proc, instance.log)

    def stop(self) -> None:
        """Stop what this started, by PID: nginx, then each instance and API server (SIGTERM, then SIGKILL after
        30 s)."""
        procs = ([self.nginx] if self.nginx else []) + [i.proc for i in self.instances + self.apis if i.proc]
        procs += [self.chroma] if self.chroma else []
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def main() -> int:
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgresql", "postgres")) or not redis_url:
        print("make cluster needs DATABASE_URL (PostgreSQL) and REDIS_URL, e.g.\n"
              "  DATABASE_URL=postgresql://postgres@127.0.0.1:5432/parley REDIS_URL=redis://127.0.0.1:6379/0 "
              "make cluster", file=sys.stderr)
        return 2
    port = int(os.environ.get("PORT", "8080"))
    workers = int(os.environ.get("API_WORKERS") or os.cpu_count() or 1)
    cluster = Cluster(database_url, redis_url, Path(os.environ.get("PARLEY_DATA_DIR") or ROOT / "data"), port=port,
                      api_workers=workers)
    cluster.start()
    print(f"\n  Parley cluster on http://localhost:{port} (nginx) -> "
          + ", ".join(f"{i.name} on :{i.port}" for i in cluster.instances)
          + "; /v1/ -> " + ", ".join(f"{i.name} on :{i.port} ({workers} workers)" for i in cluster.apis)
          + f"\n  Logs: {cluster.run_dir}. Ctrl-C stops all of it.\n", flush=True)
    try:
        while all(i.proc and i.proc.poll() is None for i in cluster.instances + cluster.apis) and cluster.nginx \
                and cluster.nginx.poll() is None:
            time.sleep(1)
        print("a process of the cluster exited; stopping the rest", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
