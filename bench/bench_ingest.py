"""Ingest benchmark: Alertmanager payloads through the webhook of `oncall serve` as deployed,
beside a minimal baseline served the same way.

    python bench/bench_ingest.py [--postgres URL] [--no-sqlite] [--quick] [--logs DIR]
                                 [--profile DIR]

On SQLite (a temp file) and, when a URL is given or ONCALL_TEST_POSTGRES_URL is set, on
PostgreSQL (fresh schemas, dropped afterwards), it starts two servers on 127.0.0.1 ports:

- oncall: the real `oncall serve --host 127.0.0.1 --port P` of this venv, as a subprocess,
  after `oncall db upgrade` and `oncall config apply oncall/examples/oncall.yaml` on a fresh
  database (ONCALL_DATABASE_URL). The scheduler and the outbox worker run, as in production;
  logging is the command's own (INFO, uvicorn's access log), written to a file;
- baseline (DESIGN, "Alerts and incidents"): one FastAPI route that json-parses the body and
  executemany-inserts its alerts (fingerprint, startsAt, labels, annotations) into the same
  kind of database in one transaction, served by `uvicorn.run` in a subprocess with the same
  settings as `oncall serve` (uvloop, httptools, INFO logging with the access log, same file).

A raw asyncio HTTP/1.1 client (keep-alive, pre-built request bytes, TCP_NODELAY) sends the
same kind of bodies to both, slice by slice, interleaved. After each oncall slice the script
waits (bounded) until the outbox has no undelivered row, so that oncall's background work never
runs during a baseline slice, and reports the backlog at the end of the load and the drain.
Cases: 200-alert payloads, each a new group; a mix of 200/50/10/1; a cluster failing at once
(one alert per request, each a new group, so each request opens an incident) at 8 and 32
connections; the latency of one 200-alert payload at a time; a storm of 10,000 alerts in 50
groups (re-sent, some deliveries racing) followed by a check in the database.

Figures are absolute and as ratios to the baseline of the same run (the machine is shared and
noisy). The exit code is 0 whatever the speed; 1 when the storm check finds a lost or
duplicated incident or alert (that is correctness); 2 when the run itself broke.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import hashlib
import json
import logging
import math
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from fastapi import FastAPI, Request  # at module level: the route's annotations resolve here
from fastapi.concurrency import run_in_threadpool

REPO = Path(__file__).resolve().parents[1]
ALERTMANAGER = REPO / "tests" / "fixtures" / "alertmanager"
CATALOG = REPO / "oncall" / "examples" / "oncall.yaml"
ENDPOINT = "/api/v1/alerts/alertmanager"
TOKEN = "bench-ingest-token"
HOST = "127.0.0.1"
REQUEST_HEAD = (
    f"POST {ENDPOINT} HTTP/1.1\r\n"
    f"Host: {HOST}\r\n"
    "User-Agent: Alertmanager/0.25.0\r\n"
    "Content-Type: application/json\r\n"
    f"Authorization: Bearer {TOKEN}\r\n"
).encode()
BASELINE_TABLE = "bench_baseline_alerts"
BASELINE_COLUMNS = "(fingerprint, starts_at, labels, annotations)"
# Placeholders in a payload template, replaced per group (fast enough to build bodies in bulk).
GROUP = "@@GROUP@@"
GROUP_HASH = "@@GH@@"
CREATED = b'"outcome":"created"'

# Targets (DESIGN, "Alerts and incidents"; the cluster-failure targets of the deployed service).
MIN_RATIO = 0.50  # alerts/s of 200-alert and mixed payloads, against the baseline
MIN_ALERTS_PER_SECOND = 2_000
MAX_P99_SECONDS = 0.200  # one 200-alert payload at a time
MIN_INCIDENTS_PER_SECOND = 1_000  # one alert per request, each a new group (SQLite)
MIN_INCIDENT_RATIO = 0.40  # new incidents/s against the baseline's requests/s
MAX_INCIDENT_P99_SECONDS = 0.050  # at 8 connections
INCIDENT_P99_CONCURRENCY = 8
STORM_GROUPS = 50
STORM_GROUP_SIZE = 200
MAX_STORM_SECONDS = 60.0
DRAIN_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Plan:
    """How long each phase runs; `--quick` is a smoke run."""

    concurrency: int = 4  # 200-alert and mixed payloads
    rounds: int = 3  # baseline and oncall alternate this many times per case
    slice_seconds: float = 3.0  # per server per round
    slice_requests: int = 3_000  # a bound on requests per slice, whatever the speed
    cluster_concurrency: tuple[int, ...] = (8, 32)
    cluster_slice_requests: int = 30_000
    latency_samples: int = 100
    storm_concurrency: int = 8
    storm_resend: bool = True  # a third, full re-send of every group
    drain_seconds: float = 60.0  # how long to wait for the outbox after an oncall slice
    profile_seconds: float = 10.0  # `--profile`: an extra, unmeasured cluster load
    deadline_seconds: int = 1_800  # the whole run stops (exit 2) after this
    quick: bool = False


FULL = Plan()
QUICK = Plan(
    rounds=1,
    slice_seconds=0.6,
    slice_requests=400,
    cluster_slice_requests=3_000,
    latency_samples=12,
    storm_resend=False,
    drain_seconds=20.0,
    profile_seconds=3.0,
    deadline_seconds=170,
    quick=True,
)


# --- payloads ------------------------------------------------------------------------------


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ALERTMANAGER / f"{name}.json").read_text(encoding="utf-8"))
    return data


def _common(dicts: Sequence[dict[str, str]]) -> dict[str, str]:
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


class PayloadShape:
    """A real payload turned into a template: each group gets its own groupKey, group label
    (`group_label`) and fingerprints (fingerprints hash the label set, as Alertmanager's do).
    With `model` set, every alert names that catalog model; with None, the fixture's labels
    route the group (the GPU alerts: `category=gpu_node`, routes, policy page-now)."""

    def __init__(
        self, source: str, size: int, model: str | None = "churn", group_label: str = "namespace"
    ) -> None:
        data = _fixture(source)
        originals = data["alerts"]
        alerts = []
        for index in range(size):
            alert = json.loads(json.dumps(originals[index % len(originals)]))
            labels = alert["labels"]
            if index >= len(originals):  # more alerts than the capture had: new features
                labels["feature"] = f"f{index:04d}"
            old_group_value = labels.get(group_label)
            if model is not None:
                labels["model"] = model
                for key, value in alert["annotations"].items():
                    alert["annotations"][key] = value.replace("churn", model)
            if old_group_value and len(old_group_value) >= 6:  # e.g. "gpu-node-1" in a summary
                for key, value in alert["annotations"].items():
                    alert["annotations"][key] = value.replace(old_group_value, GROUP)
            labels[group_label] = GROUP  # the label that tells the groups apart
            digest = hashlib.sha256(
                json.dumps(
                    {k: v for k, v in labels.items() if k != group_label}, sort_keys=True
                ).encode()
            ).hexdigest()
            alert["fingerprint"] = GROUP_HASH + digest[:8]
            alerts.append(alert)
        group_labels = {k: alerts[0]["labels"][k] for k in data["groupLabels"]}
        if model is not None:
            group_labels["model"] = model
        group_labels[group_label] = GROUP
        route = data["groupKey"].rsplit(":{", 1)[0]  # "{}" or "{}/{category=...}"
        data["alerts"] = alerts
        data["status"] = "firing"
        data["groupLabels"] = group_labels
        data["commonLabels"] = _common([a["labels"] for a in alerts])
        data["commonAnnotations"] = _common([a["annotations"] for a in alerts])
        data["groupKey"] = route + ":{" + ", ".join(f'{k}="{v}"' for k, v in group_labels.items())
        data["groupKey"] += "}"
        data["truncatedAlerts"] = 0
        self.size = size
        self.template = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        self.key_template: str = data["groupKey"]

    def body(self, group: str) -> bytes:
        group_hash = hashlib.sha256(group.encode()).hexdigest()[:8]
        return self.template.replace(GROUP, group).replace(GROUP_HASH, group_hash).encode()

    def group_key(self, group: str) -> str:
        return self.key_template.replace(GROUP, group)


def http_request(body: bytes) -> bytes:
    """The whole request, bytes ready to write (the same for both servers)."""
    return REQUEST_HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body


class Workload:
    """An endless supply of new groups, cycling through payload shapes."""

    def __init__(self, name: str, shapes: Sequence[PayloadShape], prefix: str) -> None:
        self.name = name
        self.shapes = list(shapes)
        self.prefix = prefix
        self.count = 0

    def requests(self, n: int) -> list[tuple[bytes, int]]:
        """n requests, built before a slice starts (the client only writes them)."""
        out = []
        for _ in range(n):
            shape = self.shapes[self.count % len(self.shapes)]
            group = f"{self.prefix}-{self.count:06d}"
            self.count += 1
            out.append((http_request(shape.body(group)), shape.size))
        return out


# --- the baseline server (a subprocess: `--serve-baseline`) --------------------------------


def _sqlite_inserter(path: str) -> Callable[[list[tuple[str, str, str, str]]], None]:
    local = threading.local()
    sql = f"INSERT INTO {BASELINE_TABLE} {BASELINE_COLUMNS} VALUES (?, ?, ?, ?)"

    def insert(rows: list[tuple[str, str, str, str]]) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:  # the same settings as oncall's engine: WAL, busy timeout, NORMAL sync
            conn = sqlite3.connect(path, timeout=5.0, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA synchronous=NORMAL")
            local.conn = conn
        with conn:  # one transaction: commit, or roll back on error
            conn.executemany(sql, rows)

    return insert


def _postgres_inserter(url: str) -> Callable[[list[tuple[str, str, str, str]]], None]:
    import psycopg

    local = threading.local()
    sql = f"INSERT INTO {BASELINE_TABLE} {BASELINE_COLUMNS} VALUES (%s, %s, %s, %s)"

    def insert(rows: list[tuple[str, str, str, str]]) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = psycopg.connect(libpq_url(url))
            local.conn = conn
        with conn.cursor() as cursor:
            cursor.executemany(sql, rows)
        conn.commit()

    return insert


def build_baseline_app(url: str) -> FastAPI:
    insert = (
        _sqlite_inserter(url.split(":///", 1)[1])
        if url.startswith("sqlite")
        else _postgres_inserter(url)
    )
    app = FastAPI(title="ingest baseline")

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(ENDPOINT)
    async def receive(request: Request) -> dict[str, int]:
        data = json.loads(await request.body())
        rows = [
            (a["fingerprint"], a["startsAt"], json.dumps(a["labels"]), json.dumps(a["annotations"]))
            for a in data["alerts"]
        ]
        await run_in_threadpool(insert, rows)
        return {"inserted": len(rows)}

    return app


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve_baseline(url: str, port: int) -> None:
    """Child process: the baseline, run the way `oncall serve` runs oncall (oncall/cli.py):
    the CLI's logging set-up, then `uvicorn.run` with its arguments (loop and http "auto":
    uvloop and httptools; INFO with the access log)."""
    import uvicorn

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        build_baseline_app(url),
        host=HOST,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=20,
        proxy_headers=True,
    )


# --- server processes ----------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    """No credentials or settings of the developer's shell leak into the served apps; output
    unbuffered as in the image (Dockerfile: PYTHONUNBUFFERED=1)."""
    prefixes = ("ONCALL_", "SLACK_", "PAGERDUTY_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _stop_with_this_script() -> None:
    """In the child before exec: SIGTERM it if this script dies without stopping it (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def oncall_command() -> Path:
    """The `oncall` entry point of the venv this script runs in."""
    path = Path(sys.executable).parent / "oncall"
    if not path.exists():
        raise RuntimeError(f"no `oncall` command next to {sys.executable}: pip install -e .")
    return path


class Server:
    """A server subprocess started by this script; stopped by its own pid only."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = logs / f"{name}.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, cwd: Path, timeout: float = 60.0) -> None:
        for _attempt in range(3):  # a free port can be taken between the probe and the bind
            self.port = free_port()
            argv = [a.replace("{port}", str(self.port)) for a in self.argv]
            with self.log_path.open("ab") as log:
                self.proc = subprocess.Popen(
                    argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=cwd,
                    preexec_fn=_stop_with_this_script,
                )
            if self._wait_ready(timeout):
                return
            if "address already in use" not in self.log_tail().lower():
                break
            self.stop()
        raise RuntimeError(f"{self.name} did not become ready:\n{self.log_tail()}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        return False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU of the process (all its threads) so far, from /proc."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise RuntimeError(f"{self.name} exited ({code}):\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def log_lines(self) -> int:
        with contextlib.suppress(OSError), self.log_path.open("rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        return 0

    def stop(self) -> None:
        """SIGTERM (graceful: uvicorn finishes requests, the scheduler its jobs), then kill."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def run_cli(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
    """An `oncall` sub-command as an operator runs it; its output goes to the log."""
    result = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=180, check=False
    )
    with log.open("a") as f:
        f.write(f"$ {' '.join(argv[1:])}\n{result.stdout}{result.stderr}")
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv[1:])}` failed:\n{result.stdout}{result.stderr}")


# --- databases -----------------------------------------------------------------------------


def libpq_url(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url.removeprefix(prefix)
    return url


def with_schema(url: str, schema: str) -> str:
    return url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"


def prepare_baseline_database(url: str) -> None:
    if url.startswith("sqlite"):
        lite = sqlite3.connect(url.split(":///", 1)[1])
        try:
            lite.execute("PRAGMA journal_mode=WAL")
            lite.execute(
                f"CREATE TABLE {BASELINE_TABLE} (id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL,"
                " starts_at TEXT NOT NULL, labels TEXT NOT NULL, annotations TEXT NOT NULL)"
            )
            lite.commit()
        finally:
            lite.close()
        return
    import psycopg

    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute(
            f"CREATE TABLE {BASELINE_TABLE} (id BIGSERIAL PRIMARY KEY, fingerprint TEXT NOT NULL,"
            " starts_at TIMESTAMPTZ NOT NULL, labels JSON NOT NULL, annotations JSON NOT NULL)"
        )


class Database:
    """Plain SQL reads of oncall's tables (outbox, incidents, alerts), each its own snapshot."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        self._conn: Any
        if self.sqlite:
            self._conn = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None)
            self._conn.execute("PRAGMA busy_timeout=5000")
        else:
            import psycopg

            self._conn = psycopg.connect(libpq_url(url), autocommit=True)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if not self.sqlite:
            sql = sql.replace("?", "%s")
        return list(self._conn.execute(sql, tuple(params)).fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self.rows(sql, params)[0][0] or 0)

    def close(self) -> None:
        self._conn.close()

    # The outbox as the brief of the worker has it: a row is undelivered while it has neither
    # delivered_at nor failed_at.
    def outbox_mark(self) -> int:
        return self.one("SELECT max(id) FROM outbox")

    def undelivered(self) -> int:
        return self.one(
            "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL"
        )

    def outbox_since(self, mark: int) -> tuple[int, int, int]:
        """(written, delivered, failed) among the rows after `mark`."""
        row = self.rows(
            "SELECT count(*),"
            " sum(CASE WHEN delivered_at IS NOT NULL THEN 1 ELSE 0 END),"
            " sum(CASE WHEN failed_at IS NOT NULL THEN 1 ELSE 0 END)"
            " FROM outbox WHERE id > ?",
            (mark,),
        )[0]
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)


@dataclass
class Backend:
    name: str  # "sqlite" or "postgres"
    label: str
    oncall_url: str
    baseline_url: str


@contextmanager
def sqlite_backend(tmp: Path) -> Iterator[Backend]:
    yield Backend(
        "sqlite",
        "SQLite (temp file, WAL; `oncall db upgrade`, `oncall config apply`)",
        f"sqlite:///{tmp / 'oncall.db'}",
        f"sqlite:///{tmp / 'baseline.db'}",
    )


@contextmanager
def postgres_backend(url: str) -> Iterator[Backend]:
    """Two fresh schemas (oncall, baseline) on the server, dropped afterwards whatever happens."""
    import psycopg

    tag = uuid.uuid4().hex[:10]
    schemas = [f"bench_{tag}_oncall", f"bench_{tag}_baseline"]
    admin = libpq_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield Backend(
            "postgres",
            "PostgreSQL (fresh schema; `oncall db upgrade`, `oncall config apply`)",
            with_schema(admin, schemas[0]),
            with_schema(admin, schemas[1]),
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# --- the client ----------------------------------------------------------------------------

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is there (it is: uvicorn[standard]); the client stays cheap."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


class HttpError(Exception):
    """The server broke HTTP/1.1 keep-alive in a way this small client does not follow."""


class Connection:
    """One keep-alive HTTP/1.1 connection: write a pre-built request, read one response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.closed = False

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = (await self.reader.readuntil(b"\r\n\r\n")).lower()
        status = int(head[9:12])
        start = head.find(b"\r\ncontent-length:")
        if start < 0:
            raise HttpError(f"a response without content-length: {head[:200]!r}")
        start += 17
        length = int(head[start : head.index(b"\r\n", start)])
        body = await self.reader.readexactly(length) if length else b""
        if b"\r\nconnection: close" in head:
            self.close()
        return status, body

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            self.writer.close()


@dataclass
class Drain:
    """What the outbox did after one oncall slice."""

    backlog: int  # undelivered rows when the load ended
    written: int  # rows the slice wrote
    delivered: int  # of those, delivered by the end of the wait
    failed: int
    seconds: float  # from the end of the load until no row was undelivered (or the bound)
    drained: bool
    cpu_seconds: float  # the server's CPU during the wait


@dataclass
class Load:
    """What requests against one server did (one slice, or several added up)."""

    seconds: float = 0.0
    requests: int = 0
    alerts: int = 0
    created: int = 0  # responses saying a new incident was opened
    errors: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    drains: list[Drain] = field(default_factory=list)

    def add(self, other: Load) -> None:
        self.seconds += other.seconds
        self.requests += other.requests
        self.alerts += other.alerts
        self.created += other.created
        for status, n in other.errors.items():
            self.errors[status] = self.errors.get(status, 0) + n
        self.latencies.extend(other.latencies)
        self.server_cpu += other.server_cpu
        self.client_cpu += other.client_cpu
        self.drains.extend(other.drains)

    @property
    def rate(self) -> float:
        return self.alerts / self.seconds if self.seconds else 0.0

    @property
    def request_rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def incident_rate(self) -> float:
        return self.created / self.seconds if self.seconds else 0.0


async def _send_all(
    port: int, requests: list[tuple[bytes, int]], concurrency: int, max_seconds: float
) -> Load:
    """Send with `concurrency` connections, one request in flight on each, until the requests
    run out or time is up."""
    load = Load()
    pending = iter(requests)
    connections = [await Connection.open(port) for _ in range(concurrency)]
    started = time.perf_counter()
    deadline = started + max_seconds

    async def worker(conn: Connection) -> None:
        latencies = load.latencies
        perf_counter = time.perf_counter
        while perf_counter() < deadline:
            item = next(pending, None)
            if item is None:
                return
            raw, n = item
            if conn.closed:
                conn = await Connection.open(port)
            t0 = perf_counter()
            status, body = await conn.send(raw)
            latencies.append(perf_counter() - t0)
            load.requests += 1
            if status == 200:
                load.alerts += n
                if CREATED in body:
                    load.created += 1
            else:
                load.errors[status] = load.errors.get(status, 0) + 1
        conn.close()

    # A server that stops answering fails the slice instead of hanging it.
    await asyncio.wait_for(
        asyncio.gather(*(worker(c) for c in connections)), timeout=max_seconds + 60
    )
    load.seconds = time.perf_counter() - started
    return load


def send_load(
    server: Server, requests: list[tuple[bytes, int]], concurrency: int, max_seconds: float
) -> Load:
    cpu0, client0 = server.cpu_seconds(), time.process_time()
    load = run_async(_send_all(server.port, requests, concurrency, max_seconds))
    load.server_cpu = server.cpu_seconds() - cpu0
    load.client_cpu = time.process_time() - client0
    server.check_alive()
    return load


def wait_for_outbox(server: Server, db: Database, mark: int, bound: float) -> Drain:
    """Right after an oncall load: the backlog, then poll (bounded) until nothing is left."""
    ended = time.perf_counter()
    cpu0 = server.cpu_seconds()
    backlog = left = db.undelivered()
    while left and time.perf_counter() - ended < bound:
        time.sleep(DRAIN_POLL_SECONDS)
        left = db.undelivered()
    seconds = time.perf_counter() - ended
    written, delivered, failed = db.outbox_since(mark)
    server.check_alive()
    return Drain(
        backlog, written, delivered, failed, seconds, left == 0, server.cpu_seconds() - cpu0
    )


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --- phases --------------------------------------------------------------------------------


@dataclass
class Comparison:
    case: str
    concurrency: int
    oncall: Load
    baseline: Load
    incidents: bool = False  # one alert per request: the figure is new incidents/s


@dataclass
class Latency:
    oncall: list[float]
    baseline: list[float]
    errors: int
    drain: Drain | None = None


@dataclass
class Storm:
    seconds: float
    deliveries: int
    alerts_sent: int
    retried: dict[str, int]
    failed: int
    incidents: int
    alerts: int
    alerts_added: int
    groups_with_one_incident: int
    groups_complete: int
    problems: list[str]
    drain: Drain | None = None

    @property
    def correct(self) -> bool:
        return not self.problems


@dataclass
class Bench:
    """The servers and database of one backend, and how long each phase may take."""

    plan: Plan
    backend: str
    oncall: Server
    baseline: Server
    db: Database

    def oncall_load(self, requests: list[tuple[bytes, int]], concurrency: int) -> Load:
        mark = self.db.outbox_mark()
        load = send_load(self.oncall, requests, concurrency, self.plan.slice_seconds)
        load.drains.append(wait_for_outbox(self.oncall, self.db, mark, self.plan.drain_seconds))
        return load

    def baseline_load(self, requests: list[tuple[bytes, int]], concurrency: int) -> Load:
        load = send_load(self.baseline, requests, concurrency, self.plan.slice_seconds)
        if load.errors:
            raise RuntimeError(f"the baseline answered non-200: {load.errors}")
        return load


def compare(
    bench: Bench, workload: Workload, concurrency: int, per_slice: int, *, incidents: bool
) -> Comparison:
    """Slices of the two servers alternate; each oncall slice is followed by its drain."""
    total = {"oncall": Load(), "baseline": Load()}
    for round_no in range(bench.plan.rounds):
        order = ["baseline", "oncall"] if round_no % 2 == 0 else ["oncall", "baseline"]
        done: dict[str, Load] = {}
        for name in order:
            requests = workload.requests(per_slice)
            if name == "oncall":
                done[name] = bench.oncall_load(requests, concurrency)
            else:
                done[name] = bench.baseline_load(requests, concurrency)
            total[name].add(done[name])
        progress(bench.backend, f"{workload.name}, {concurrency} connections", round_no, done)
    return Comparison(workload.name, concurrency, total["oncall"], total["baseline"], incidents)


def progress(backend: str, case: str, round_no: int, done: dict[str, Load]) -> None:
    """One line per round, as it happens: the noise between rounds shows."""
    o, base = done["oncall"], done["baseline"]
    drain = o.drains[-1]
    print(
        f"  [{backend}] {case}, round {round_no + 1}: baseline {base.request_rate:,.0f} req/s; "
        f"oncall {o.request_rate:,.0f} req/s ({o.created:,} new incidents), "
        f"outbox backlog {drain.backlog:,} drained in {drain.seconds:.1f} s"
        + ("" if drain.drained else " (NOT drained)"),
        flush=True,
    )


async def _one_at_a_time(
    ports: dict[str, int], bodies: list[tuple[str, bytes]]
) -> tuple[dict[str, list[float]], int]:
    times: dict[str, list[float]] = {name: [] for name in ports}
    errors = 0
    connections = {name: await Connection.open(port) for name, port in ports.items()}
    for name, raw in bodies:
        conn = connections[name]
        if conn.closed:
            conn = connections[name] = await Connection.open(ports[name])
        t0 = time.perf_counter()
        status, _ = await asyncio.wait_for(conn.send(raw), timeout=60)
        elapsed = time.perf_counter() - t0
        if status == 200:
            times[name].append(elapsed)
        else:
            errors += 1
    for conn in connections.values():
        conn.close()
    return times, errors


def latency(bench: Bench, shape: PayloadShape, prefix: str) -> Latency:
    """One request at a time, alternating servers; each a new group of the storm-200 shape."""
    bodies = [
        (name, http_request(shape.body(f"{prefix}-{name}-{i:05d}")))
        for i in range(bench.plan.latency_samples)
        for name in ("baseline", "oncall")
    ]
    mark = bench.db.outbox_mark()
    ports = {"baseline": bench.baseline.port, "oncall": bench.oncall.port}
    times, errors = run_async(_one_at_a_time(ports, bodies))
    bench.oncall.check_alive()
    drain = wait_for_outbox(bench.oncall, bench.db, mark, bench.plan.drain_seconds)
    return Latency(times["oncall"], times["baseline"], errors, drain)


def storm(bench: Bench, prefix: str) -> Storm:
    """10,000 alerts in 50 groups of 200, the way Alertmanager delivers a storm: a first
    notification with part of each group, then the complete group, then (full run) a repeat;
    some deliveries of one group race each other. 5xx and timeouts are retried, as Alertmanager
    does; then the database must hold exactly one incident per group and every alert once."""
    rng = random.Random(20261127)
    groups = [f"{prefix}-{i:02d}" for i in range(STORM_GROUPS)]
    full = PayloadShape("storm-200", STORM_GROUP_SIZE)
    partial_shapes: dict[int, PayloadShape] = {}

    def partial(group: str) -> bytes:
        size = rng.randrange(100, STORM_GROUP_SIZE)
        if size not in partial_shapes:
            partial_shapes[size] = PayloadShape("storm-200", size)
        return partial_shapes[size].body(group)

    racing = set(rng.sample(range(STORM_GROUPS), 10))
    first: list[tuple[int, bytes]] = []
    for i in rng.sample(range(STORM_GROUPS), STORM_GROUPS):
        first.append((i, partial(groups[i])))
        if i in racing:  # the complete group right behind its first part: both open the group
            first.append((i, full.body(groups[i])))
    second: list[tuple[int, bytes]] = []
    for i in rng.sample(range(STORM_GROUPS), STORM_GROUPS):
        second.append((i, full.body(groups[i])))
        if i in racing:  # a retry that overtakes the answer to the first attempt
            second.append((i, full.body(groups[i])))
    third = [(i, full.body(groups[i])) for i in rng.sample(range(STORM_GROUPS), STORM_GROUPS)]
    schedule = first + second + (third if bench.plan.storm_resend else [])

    db = bench.db
    all_alerts_before = db.one("SELECT count(*) FROM alerts")
    mark = db.outbox_mark()
    result = run_async(_deliver(bench.oncall.port, schedule, bench.plan.storm_concurrency))
    bench.oncall.check_alive()
    drain = wait_for_outbox(bench.oncall, db, mark, bench.plan.drain_seconds)
    seconds, retried, failed, incident_ids = result
    keys = [full.group_key(g) for g in groups]
    marks = ", ".join("?" for _ in keys)
    ids = f"SELECT id FROM incidents WHERE group_key IN ({marks})"
    incidents = db.one(f"SELECT count(*) FROM incidents WHERE group_key IN ({marks})", keys)
    alerts = db.one(f"SELECT count(*) FROM alerts WHERE incident_id IN ({ids})", keys)
    per_incident = db.rows(
        f"SELECT incident_id, count(*) FROM alerts WHERE incident_id IN ({ids})"
        " GROUP BY incident_id",
        keys,
    )
    added = db.one("SELECT count(*) FROM alerts") - all_alerts_before

    problems = []
    if failed:
        problems.append(f"{failed} deliveries never got a 200")
    if incidents != STORM_GROUPS:
        problems.append(f"{incidents} incidents for {STORM_GROUPS} groups")
    expected = STORM_GROUPS * STORM_GROUP_SIZE
    if alerts != expected:
        problems.append(f"{alerts} alerts stored for {expected}")
    if added != expected:
        problems.append(f"the alerts table grew by {added}, not {expected}")
    one_incident = sum(1 for i in range(STORM_GROUPS) if len(incident_ids.get(i, set())) == 1)
    if one_incident != STORM_GROUPS:
        problems.append(f"{STORM_GROUPS - one_incident} groups answered with several incident ids")
    complete = sum(1 for _, n in per_incident if n == STORM_GROUP_SIZE)
    if complete != STORM_GROUPS:
        problems.append(
            f"{STORM_GROUPS - complete} groups lack some of their {STORM_GROUP_SIZE} alerts"
        )
    return Storm(
        seconds=seconds,
        deliveries=len(schedule),
        alerts_sent=sum(body.count(b'"fingerprint"') for _, body in schedule),
        retried=retried,
        failed=failed,
        incidents=incidents,
        alerts=alerts,
        alerts_added=added,
        groups_with_one_incident=one_incident,
        groups_complete=complete,
        problems=problems,
        drain=drain,
    )


async def _deliver(
    port: int, schedule: list[tuple[int, bytes]], concurrency: int
) -> tuple[float, dict[str, int], int, dict[int, set[int]]]:
    queue = list(reversed(schedule))
    retried: dict[str, int] = {}
    failed = 0
    incident_ids: dict[int, set[int]] = {}

    async def worker() -> None:
        nonlocal failed
        conn: Connection | None = None
        while queue:
            group, body = queue.pop()
            raw = http_request(body)
            for attempt in range(8):
                status = 0
                try:
                    if conn is None or conn.closed:
                        conn = await Connection.open(port)
                    status, answer = await asyncio.wait_for(conn.send(raw), timeout=30)
                    reason = str(status)
                except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
                    reason = type(exc).__name__
                    if conn is not None:
                        conn.close()
                if status == 200:
                    incident = json.loads(answer).get("incident_id")
                    if incident is not None:
                        incident_ids.setdefault(group, set()).add(incident)
                    break
                retried[reason] = retried.get(reason, 0) + 1
                if 0 < status < 500:
                    failed += 1  # Alertmanager drops a delivery answered with a 4xx
                    break
                await asyncio.sleep(0.05 * 2**attempt)
            else:
                failed += 1
        if conn is not None:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, retried, failed, incident_ids


# --- profile (`--profile DIR`: py-spy on the oncall server during an extra cluster load) -----


@dataclass
class Profile:
    path: Path
    samples: int
    incidents: int
    cpu_seconds: float
    innermost: list[tuple[str, int]]  # innermost oncall function (logging carved out first)
    across: list[tuple[str, int]]  # cross-cutting costs, inclusive


_LINE = re.compile(r":\d+\)$")
# Cross-cutting costs, inclusive: a sample counts in every one whose frame it contains.
ACROSS = [
    ("logging (access log, incident and console lines)", "(logging/__init__.py)"),
    ("Session.commit (SQLite/PostgreSQL COMMIT and flush)", "Session.commit ("),
    ("ORM Session.get (an object loaded by primary key)", "Session.get ("),
    ("SQLAlchemy statement cache keys", "_generate_cache_key ("),
    ("driver execute (the SQL itself, while the GIL is held)", "DefaultDialect.do_execute"),
    ("pydantic payload validation", "model_validate_json ("),
    ("outbox worker (scheduler thread)", "deliver_outbox ("),
    (
        "the webhook (oncall/api/webhook.py: on the loop or in its thread)",
        "(oncall/api/webhook.py)",
    ),
]


def profile_cluster(bench: Bench, backend: str, folder: Path, prefix: str) -> Profile | None:
    """Sample the oncall server's Python (the thread holding the GIL) while one-alert new
    groups arrive on 8 connections; the slice counts in no figure."""
    spy = Path(sys.executable).parent / "py-spy"
    spy_path = str(spy) if spy.exists() else shutil.which("py-spy")
    if spy_path is None:
        print("  (--profile: py-spy not found: pip install py-spy)", file=sys.stderr)
        return None
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"profile-{backend}-cluster.txt"
    seconds = bench.plan.profile_seconds
    workload = Workload("profile", [cluster_shape()], prefix)
    requests = workload.requests(bench.plan.cluster_slice_requests)
    spy_proc = subprocess.Popen(
        [
            *(spy_path, "record", "--gil", "-r", "200", "-f", "raw", "-o", str(out)),
            *("-d", str(math.ceil(seconds)), "--pid", str(bench.oncall.pid)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)  # py-spy attaches
        mark = bench.db.outbox_mark()
        load = send_load(bench.oncall, requests, INCIDENT_P99_CONCURRENCY, seconds)
        _, stderr = spy_proc.communicate(timeout=seconds + 30)
    finally:
        if spy_proc.poll() is None:
            spy_proc.kill()
            spy_proc.wait()
    wait_for_outbox(bench.oncall, bench.db, mark, bench.plan.drain_seconds)
    if spy_proc.returncode != 0 or not out.exists():
        print(f"  (--profile: py-spy failed: {stderr.strip()[-500:]})", file=sys.stderr)
        return None
    innermost: collections.Counter[str] = collections.Counter()
    across: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in out.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [_LINE.sub(")", f) for f in stack.split(";")]
        for label, needle in ACROSS:
            if any(needle in f for f in frames):
                across[label] += n
        if any("(logging/__init__.py)" in f for f in frames):
            innermost["logging (any caller)"] += n
            continue
        ours = [f for f in frames if "(oncall/" in f and "(oncall/cli.py)" not in f]
        if ours:
            innermost[ours[-1]] += n
        elif any("uvicorn/" in f or "starlette/" in f or "fastapi/" in f for f in frames):
            innermost["HTTP: uvicorn, Starlette, FastAPI (outside oncall's code)"] += n
        else:
            innermost["other (event loop, scheduler, threads)"] += n
    return Profile(
        out, samples, load.created, load.server_cpu, innermost.most_common(), across.most_common()
    )


def print_profile(profile: Profile) -> None:
    per = profile.cpu_seconds / profile.incidents * 1000 if profile.incidents else math.nan
    print(
        f"\n  Profile of the server, one alert per request, {INCIDENT_P99_CONCURRENCY} connections "
        f"(py-spy --gil, {profile.samples:,} samples, {profile.incidents:,} new incidents, "
        f"{per:.2f} ms server CPU per incident; raw stacks: {profile.path})"
    )
    print("  innermost oncall function (its library calls included), share and ~CPU ms/incident:")
    for name, n in profile.innermost[:18]:
        share = n / profile.samples if profile.samples else 0.0
        print(f"    {share:6.1%}  {share * per:5.2f} ms  {name}")
    print("  across functions (inclusive; a sample counts in each that holds it):")
    for name, n in profile.across:
        share = n / profile.samples if profile.samples else 0.0
        print(f"    {share:6.1%}  {share * per:5.2f} ms  {name}")


# --- report --------------------------------------------------------------------------------


@dataclass
class Verdict:
    backend: str
    target: str
    goal: str
    passed: bool
    figures: str


def _ms(value: float) -> str:
    return f"{value * 1000:,.1f} ms"


def _errors(load: Load) -> str:
    if not load.errors:
        return ""
    return " (non-200: " + ", ".join(f"{s}x{n}" for s, n in sorted(load.errors.items())) + ")"


def _drains(drains: Sequence[Drain], bound: float) -> str:
    if not drains:
        return ""
    backlog = sum(d.backlog for d in drains)
    written = sum(d.written for d in drains)
    delivered = sum(d.delivered for d in drains)
    failed = sum(d.failed for d in drains)
    waited = sum(d.seconds for d in drains)
    per_row = sum(d.cpu_seconds for d in drains) / backlog * 1000 if backlog else math.nan
    slowest = max(d.seconds for d in drains)
    drained = all(d.drained for d in drains)
    return (
        f"backlog at load end up to {max(d.backlog for d in drains):,} rows; "
        + (f"drained in up to {slowest:.1f} s" if drained else f"NOT drained within {bound:.0f} s")
        + f"; {delivered:,}/{written:,} rows delivered"
        + (f", {failed} failed" if failed else "")
        + f"; after the load ~{backlog / waited if waited else 0:,.0f} rows/s, "
        f"{per_row:.1f} ms CPU a row"
    )


def _cpu(load: Load) -> str:
    per = load.server_cpu / load.requests * 1000 if load.requests else math.nan
    return f"{per:.2f} ms"


def report(
    plan: Plan,
    backend: Backend,
    comparisons: list[Comparison],
    lat: Latency,
    storm_result: Storm,
    logs: dict[str, int],
) -> list[Verdict]:
    verdicts: list[Verdict] = []
    rows: list[tuple[str, str, str, str]] = []
    b = backend.name
    for c in comparisons:
        o, base = c.oncall, c.baseline
        client = max(o.client_cpu / o.seconds, base.client_cpu / base.seconds)
        if c.incidents:
            ratio = o.incident_rate / base.request_rate if base.request_rate else math.nan
            label = f"{c.case}, {c.concurrency} connections"
            rows.append(
                (
                    label,
                    f"{o.incident_rate:,.0f} new incidents/s" + _errors(o),
                    f"{base.request_rate:,.0f} requests/s",
                    f"{ratio:.0%} of baseline",
                )
            )
            figures = (
                f"{o.incident_rate:,.0f} new incidents/s = {ratio:.0%} of "
                f"{base.request_rate:,.0f} requests/s ({c.concurrency} connections)"
            )
            if b == "sqlite":
                verdicts.append(
                    Verdict(
                        b,
                        label,
                        f">= {MIN_INCIDENTS_PER_SECOND:,} new incidents/s",
                        o.incident_rate >= MIN_INCIDENTS_PER_SECOND,
                        figures,
                    )
                )
            verdicts.append(
                Verdict(
                    b,
                    label,
                    f">= {MIN_INCIDENT_RATIO:.0%} of the baseline's requests/s",
                    ratio >= MIN_INCIDENT_RATIO,
                    figures,
                )
            )
            p50, p99 = percentile(o.latencies, 50), percentile(o.latencies, 99)
            if c.concurrency == INCIDENT_P99_CONCURRENCY:
                verdicts.append(
                    Verdict(
                        b,
                        label,
                        f"p99 < {MAX_INCIDENT_P99_SECONDS * 1000:.0f} ms",
                        p99 < MAX_INCIDENT_P99_SECONDS and not o.errors,
                        f"p99 {_ms(p99)}, p50 {_ms(p50)} (baseline p99 "
                        f"{_ms(percentile(base.latencies, 99))}); {o.requests:,} requests",
                    )
                )
        else:
            ratio = o.rate / base.rate if base.rate else math.nan
            label = f"{c.case}, {c.concurrency} connections"
            rows.append(
                (
                    label,
                    f"{o.rate:,.0f} alerts/s" + _errors(o),
                    f"{base.rate:,.0f} alerts/s",
                    f"{ratio:.0%} of baseline",
                )
            )
            figures = f"{o.rate:,.0f} alerts/s = {ratio:.0%} of {base.rate:,.0f} alerts/s"
            verdicts.append(
                Verdict(
                    b,
                    label,
                    f">= {MIN_RATIO:.0%} of the baseline's rate",
                    ratio >= MIN_RATIO,
                    figures,
                )
            )
            verdicts.append(
                Verdict(
                    b,
                    label,
                    f">= {MIN_ALERTS_PER_SECOND:,} alerts/s",
                    o.rate >= MIN_ALERTS_PER_SECOND,
                    figures,
                )
            )
        rows.append(
            (
                "  latency under load p50 / p99",
                f"{_ms(percentile(o.latencies, 50))} / {_ms(percentile(o.latencies, 99))}",
                f"{_ms(percentile(base.latencies, 50))} / {_ms(percentile(base.latencies, 99))}",
                f"{o.requests:,} and {base.requests:,} requests",
            )
        )
        rows.append(
            (
                "  server CPU per request (during load)",
                _cpu(o),
                _cpu(base),
                f"client CPU up to {client:.0%} of a core",
            )
        )
        after = sum(d.cpu_seconds for d in o.drains) / o.requests * 1000 if o.requests else 0
        rows.append(
            (
                "  outbox after the load",
                f"+{after:.2f} ms CPU per request",
                "",
                _drains(o.drains, plan.drain_seconds),
            )
        )
    p50, p99 = percentile(lat.oncall, 50), percentile(lat.oncall, 99)
    b50, b99 = percentile(lat.baseline, 50), percentile(lat.baseline, 99)
    rows.append(
        ("latency p50, 200-alert payload", _ms(p50), _ms(b50), f"{p50 / b50:.1f}x baseline")
    )
    rows.append(
        ("latency p99, 200-alert payload", _ms(p99), _ms(b99), f"{p99 / b99:.1f}x baseline")
    )
    if lat.drain is not None:
        rows.append(("  outbox after", "", "", _drains([lat.drain], plan.drain_seconds)))
    verdicts.append(
        Verdict(
            b,
            "latency p99, 200-alert payload",
            f"< {MAX_P99_SECONDS * 1000:.0f} ms",
            p99 < MAX_P99_SECONDS and not lat.errors,
            f"p99 {_ms(p99)}, p50 {_ms(p50)} (baseline p99 {_ms(b99)}); "
            f"{len(lat.oncall)} samples" + (f", {lat.errors} non-200" if lat.errors else ""),
        )
    )
    s = storm_result
    retries = ", ".join(f"{k}x{v}" for k, v in sorted(s.retried.items())) or "none"
    rows.append(
        (
            "storm: 10,000 alerts, 50 groups",
            f"{s.seconds:.1f} s",
            "",
            f"{s.deliveries} deliveries, {s.alerts_sent:,} alerts sent, retried: {retries}",
        )
    )
    if s.drain is not None:
        rows.append(("  outbox after", "", "", _drains([s.drain], plan.drain_seconds)))
    rows.append(
        (
            "storm: check in the database",
            f"{s.incidents} incidents, {s.alerts:,} alerts",
            "",
            "; ".join(s.problems) or "one incident per group, every alert once",
        )
    )
    rows.append(
        (
            "log lines written",
            f"{logs.get('oncall', 0):,}",
            f"{logs.get('baseline', 0):,}",
            "",
        )
    )
    verdicts.append(
        Verdict(
            b,
            "storm within a minute",
            f"< {MAX_STORM_SECONDS:.0f} s",
            s.seconds < MAX_STORM_SECONDS,
            f"{s.seconds:.1f} s for {s.deliveries} deliveries ({s.alerts_sent:,} alerts sent)",
        )
    )
    verdicts.append(
        Verdict(
            b,
            "storm check",
            f"{STORM_GROUPS} incidents, {STORM_GROUPS * STORM_GROUP_SIZE:,} alerts, none lost",
            s.correct,
            f"{s.incidents} incidents, {s.alerts:,} alerts (+{s.alerts_added:,} in the table), "
            f"{s.groups_with_one_incident}/{STORM_GROUPS} groups on one incident"
            + (f"; {'; '.join(s.problems)}" if s.problems else ""),
        )
    )

    print(f"\n== {backend.label} ==")
    header = ("measure", "oncall serve", "baseline", "oncall / baseline")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        print("  " + "  ".join(row[i].ljust(widths[i]) for i in range(3)) + "  " + row[3])
    return verdicts


# --- main ----------------------------------------------------------------------------------


def cluster_shape() -> PayloadShape:
    """A whole cluster failing: one GPU alert per node, each node its own group (routes:
    category=gpu_node, policy page-now, so a Slack post and a PagerDuty trigger each)."""
    return PayloadShape("gpu-xid-firing", 1, model=None, group_label="node")


def run_backend(
    plan: Plan, backend: Backend, tmp: Path, logs: Path, profile: Path | None
) -> list[Verdict]:
    folder = logs / backend.name
    folder.mkdir(parents=True, exist_ok=True)
    work = tmp / f"cwd-{backend.name}"  # the servers' working folder: nothing lands in the repo
    work.mkdir(exist_ok=True)
    env = _child_env()
    env["ONCALL_DATABASE_URL"] = backend.oncall_url
    env["ONCALL_WEBHOOK_TOKEN"] = TOKEN
    oncall_bin = str(oncall_command())
    setup_log = folder / "oncall-setup.log"
    run_cli([oncall_bin, "db", "upgrade"], env, work, setup_log)
    run_cli([oncall_bin, "config", "apply", str(CATALOG)], env, work, setup_log)
    prepare_baseline_database(backend.baseline_url)

    with ExitStack() as stack:
        oncall = Server(
            "oncall",
            [oncall_bin, "serve", "--host", HOST, "--port", "{port}"],
            env,
            folder,
        )
        stack.callback(oncall.stop)
        baseline = Server(
            "baseline",
            [
                *(sys.executable, str(Path(__file__).resolve()), "--serve-baseline"),
                *("--database-url", backend.baseline_url, "--port", "{port}"),
            ],
            _child_env(),
            folder,
        )
        stack.callback(baseline.stop)
        oncall.start(work)
        baseline.start(work)
        db = Database(backend.oncall_url)
        stack.callback(db.close)
        bench = Bench(plan, backend.name, oncall, baseline, db)

        run = uuid.uuid4().hex[:6]
        storm_shape = PayloadShape("storm-200", 200)
        mixed = [
            PayloadShape("storm-200", 200),
            PayloadShape("storm-200", 50, model="ltv"),
            PayloadShape("storm-200", 10),
            PayloadShape("drift-firing", 1, model="ltv"),
        ]
        cluster = cluster_shape()
        # Warm both up (imports, statement caches, connections) before anything counts.
        warm = Workload("warm-up", [*mixed, cluster, cluster], f"warm-{run}")
        for server in (oncall, baseline):
            send_load(server, warm.requests(60), 2, 30)
        wait_for_outbox(oncall, db, 0, plan.drain_seconds)

        comparisons = [
            compare(
                bench,
                Workload("200 alerts/payload, new groups", [storm_shape], f"tp200-{run}"),
                plan.concurrency,
                plan.slice_requests,
                incidents=False,
            ),
            compare(
                bench,
                Workload("mixed 200/50/10/1 alerts/payload", mixed, f"tpmix-{run}"),
                plan.concurrency,
                plan.slice_requests,
                incidents=False,
            ),
        ]
        for concurrency in plan.cluster_concurrency:
            comparisons.append(
                compare(
                    bench,
                    Workload("1 alert/request, new groups", [cluster], f"cl{concurrency}-{run}"),
                    concurrency,
                    plan.cluster_slice_requests,
                    incidents=True,
                )
            )
        lat = latency(bench, storm_shape, f"lat-{run}")
        storm_result = storm(bench, f"storm-{run}")
        prof = (
            profile_cluster(bench, backend.name, profile, f"prof-{run}")
            if profile is not None
            else None
        )
        stack.close()  # SIGTERM both servers: the log line counts are final
        lines = {"oncall": oncall.log_lines(), "baseline": baseline.log_lines()}
    verdicts = report(plan, backend, comparisons, lat, storm_result, lines)
    if prof is not None:
        print_profile(prof)
    return verdicts


class RunTooLong(Exception):
    """The whole run passed its deadline (a bound, so that nothing runs for ever)."""


def _deadline(_signum: int, _frame: FrameType | None) -> None:
    raise RunTooLong


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get("ONCALL_TEST_POSTGRES_URL") or None,
        help="also run on PostgreSQL (default: $ONCALL_TEST_POSTGRES_URL when set)",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--no-sqlite", action="store_true", help="skip SQLite (run PostgreSQL only)"
    )
    parser.add_argument(
        "--logs", metavar="DIR", type=Path, help="keep the servers' logs here (default: a temp dir)"
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        type=Path,
        help="afterwards, sample the oncall server with py-spy during an extra one-alert load "
        "and print its top costs (raw stacks in DIR)",
    )
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_baseline:
        serve_baseline(args.database_url, args.port)
        return 0

    plan = QUICK if args.quick else FULL
    if args.no_sqlite and not args.postgres:
        parser.error("--no-sqlite needs --postgres URL (or ONCALL_TEST_POSTGRES_URL)")
    print(
        f"Ingest benchmark ({'quick' if plan.quick else 'full'} run): `oncall serve` (scheduler "
        f"and outbox worker on, console channel) beside a parse-and-insert baseline under "
        f"uvicorn.run with the same settings, both on 127.0.0.1; raw asyncio keep-alive client "
        f"({plan.rounds} x {plan.slice_seconds:g} s per server per case, interleaved; outbox "
        f"drained after each oncall slice, at most {plan.drain_seconds:g} s); "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs.",
        flush=True,
    )
    verdicts: list[Verdict] = []
    signal.signal(signal.SIGALRM, _deadline)
    signal.alarm(plan.deadline_seconds)
    try:
        with tempfile.TemporaryDirectory(prefix="oncall-bench-") as tmp_name:
            tmp = Path(tmp_name)
            logs = args.logs.resolve() if args.logs else tmp / "logs"
            if not args.no_sqlite:
                with sqlite_backend(tmp) as backend:
                    verdicts += run_backend(plan, backend, tmp, logs, args.profile)
            if args.postgres:
                with postgres_backend(args.postgres) as backend:
                    verdicts += run_backend(plan, backend, tmp, logs, args.profile)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 2
    except RunTooLong:
        print(f"\nthe benchmark run broke: over {plan.deadline_seconds} s", file=sys.stderr)
        return 2
    except Exception as exc:  # the run broke: say why, exit 2 (not a measured failure)
        print(f"\nthe benchmark run broke: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.alarm(0)

    print("\nTargets (timing targets are reported, not enforced; the storm check is)")
    widths = [max(len(f"[{v.backend}]") for v in verdicts)]
    widths += [max(len(v.target) for v in verdicts), max(len(v.goal) for v in verdicts)]
    for v in verdicts:
        print(
            f"  {f'[{v.backend}]'.ljust(widths[0])} {v.target.ljust(widths[1])}  "
            f"{v.goal.ljust(widths[2])}  "
            f"{'PASS' if v.passed else 'FAIL'}  {v.figures}"
        )
    correct = all(v.passed for v in verdicts if v.target == "storm check")
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
