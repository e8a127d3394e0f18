"""Ingest benchmark: Alertmanager payloads through the real webhook, beside a minimal baseline.

    python bench/bench_ingest.py [--postgres URL] [--quick]

On SQLite (a migrated temp file with the example catalog applied) and, when a URL is given or
ONCALL_TEST_POSTGRES_URL is set, on PostgreSQL (a fresh schema, dropped afterwards), it serves
two apps with uvicorn on 127.0.0.1, each in a subprocess of its own:

- oncall: `create_app(...)`, so `POST /api/v1/alerts/alertmanager` validates, routes, opens or
  updates the incident and writes alerts, timeline and outbox rows in one transaction;
- baseline (DESIGN, "Alerts and incidents"): one route that json-parses the body and
  executemany-inserts its alerts (fingerprint, startsAt, labels, annotations) into the same kind
  of database in one transaction.

Both are hit the same way by an httpx client on the same machine, interleaved, and the figures
are reported as ratios against the baseline of the same run (the machine is shared and noisy):
throughput (alerts/s, every payload a new group), latency of a 200-alert payload (p50/p99), and
a storm (10,000 alerts in 50 groups, each group re-sent, some deliveries concurrent) followed by
a check in the database. The exit code is 0 whatever the speed; 1 when the storm check finds a
lost or duplicated incident or alert (that is correctness); 2 when the run itself broke.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import random
import select
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request  # at module level: the route's annotations resolve here
from fastapi.concurrency import run_in_threadpool

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
ALERTMANAGER = FIXTURES / "alertmanager"
CATALOG = FIXTURES / "oncall.yaml"
ENDPOINT = "/api/v1/alerts/alertmanager"
TOKEN = "bench-ingest-token"
HEADERS = {
    "Content-Type": "application/json",
    "User-Agent": "Alertmanager/0.25.0",
    "Authorization": f"Bearer {TOKEN}",
}
BASELINE_TABLE = "bench_baseline_alerts"
BASELINE_COLUMNS = "(fingerprint, starts_at, labels, annotations)"
# Placeholders in a payload template, replaced per group (fast enough to build bodies in bulk).
GROUP = "@@GROUP@@"
GROUP_HASH = "@@GH@@"

# Targets (DESIGN, "Alerts and incidents"; the task's latency and storm bounds).
MIN_RATIO = 0.50
MIN_ALERTS_PER_SECOND = 2_000
MAX_P99_SECONDS = 0.200
STORM_GROUPS = 50
STORM_GROUP_SIZE = 200
MAX_STORM_SECONDS = 60.0


@dataclass(frozen=True)
class Plan:
    """How long each phase runs; `--quick` is a smoke run of a few seconds."""

    concurrency: int = 4
    rounds: int = 3  # throughput: baseline and oncall alternate this many times
    slice_seconds: float = 3.0  # per server per round
    slice_requests: int = 3000  # a bound on requests per slice, whatever the speed
    latency_samples: int = 100
    storm_concurrency: int = 8
    storm_resend: bool = True  # a third, full re-send of every group
    quick: bool = False


FULL = Plan()
QUICK = Plan(
    rounds=1,
    slice_seconds=0.6,
    slice_requests=400,
    latency_samples=12,
    storm_resend=False,
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
    """A real payload turned into a template: each group gets its own groupKey, group label and
    fingerprints (fingerprints hash the label set, as Alertmanager's do)."""

    def __init__(self, source: str, size: int, model: str = "churn") -> None:
        data = _fixture(source)
        originals = data["alerts"]
        alerts = []
        for index in range(size):
            alert = json.loads(json.dumps(originals[index % len(originals)]))
            labels = alert["labels"]
            if index >= len(originals):  # more alerts than the capture had: new features
                labels["feature"] = f"f{index:04d}"
            labels["model"] = model
            labels["namespace"] = GROUP  # the label that tells the groups apart
            for key, value in alert["annotations"].items():
                alert["annotations"][key] = value.replace("churn", model)
            digest = hashlib.sha256(
                json.dumps(
                    {k: v for k, v in labels.items() if k != "namespace"}, sort_keys=True
                ).encode()
            ).hexdigest()
            alert["fingerprint"] = GROUP_HASH + digest[:8]
            alerts.append(alert)
        alertname = alerts[0]["labels"]["alertname"]
        data["alerts"] = alerts
        data["status"] = "firing"
        data["groupLabels"] = {"alertname": alertname, "model": model, "namespace": GROUP}
        data["commonLabels"] = _common([a["labels"] for a in alerts])
        data["commonAnnotations"] = _common([a["annotations"] for a in alerts])
        data["groupKey"] = f'{{}}:{{alertname="{alertname}", model="{model}", namespace="{GROUP}"}}'
        data["truncatedAlerts"] = 0
        self.size = size
        self.template = json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    def body(self, group: str) -> bytes:
        group_hash = hashlib.sha256(group.encode()).hexdigest()[:8]
        return self.template.replace(GROUP, group).replace(GROUP_HASH, group_hash).encode()


def group_key(group: str, alertname: str = "ModelDriftHigh", model: str = "churn") -> str:
    return f'{{}}:{{alertname="{alertname}", model="{model}", namespace="{group}"}}'


class Workload:
    """An endless supply of new groups, cycling through payload shapes."""

    def __init__(self, name: str, shapes: Sequence[PayloadShape], prefix: str) -> None:
        self.name = name
        self.shapes = list(shapes)
        self.prefix = prefix
        self.count = 0

    def take(self, n: int) -> Iterator[tuple[bytes, int]]:
        """Up to n bodies, built as they are sent (a cheap string replace each)."""
        for _ in range(n):
            shape = self.shapes[self.count % len(self.shapes)]
            group = f"{self.prefix}-{self.count:06d}"
            self.count += 1  # before yielding: a batch cut short must not reuse the group
            yield shape.body(group), shape.size


# --- the two servers (each runs in a subprocess: `--serve oncall|baseline`) -----------------


def build_oncall_app(url: str) -> Any:
    from oncall.app import create_app
    from oncall.config import Settings
    from oncall.db import make_engine

    settings = Settings(ONCALL_DATABASE_URL=url, ONCALL_WEBHOOK_TOKEN=TOKEN)
    return create_app(settings, engine=make_engine(url), background=False)


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


def build_baseline_app(url: str) -> Any:
    insert = (
        _sqlite_inserter(url.split(":///", 1)[1])
        if url.startswith("sqlite")
        else _postgres_inserter(url)
    )
    app = FastAPI(title="ingest baseline")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
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


def serve(kind: str, url: str) -> None:
    """Child process: build the app, bind a free loopback port, print it, serve until SIGTERM."""
    import uvicorn

    app = build_oncall_app(url) if kind == "oncall" else build_baseline_app(url)
    # proto=IPPROTO_TCP, as uvicorn's own bind would have it: asyncio turns Nagle's algorithm off
    # (TCP_NODELAY) only on connections whose socket says it is TCP. Without it, a response
    # written in two parts waits for the client's delayed ACK, about 40 ms per request.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    # Same settings for both apps; access logging off (it would cost both the same per request).
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


def _child_env() -> dict[str, str]:
    """No credentials or settings of the developer's shell leak into the served apps."""
    prefixes = ("ONCALL_", "SLACK_", "PAGERDUTY_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


class Server:
    """A uvicorn subprocess started by this script; stopped by its own pid only."""

    def __init__(self, kind: str, url: str, logs: Path) -> None:
        self.kind = kind
        self.log_path = logs / f"{kind}-{uuid.uuid4().hex[:6]}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--database-url", url],
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=_child_env(),
        )
        self.base_url = ""

    def wait_ready(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        line = b""
        while not line.startswith(b"PORT "):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server did not start:\n{self.log_tail()}")
            readable, _, _ = select.select([self.proc.stdout], [], [], min(remaining, 0.5))
            if readable:
                line = self.proc.stdout.readline()
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(self.base_url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} server did not answer /healthz:\n{self.log_tail()}")

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.kind} server exited ({self.proc.returncode}):\n{self.log_tail()}"
            )

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


# --- databases -----------------------------------------------------------------------------


def libpq_url(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url.removeprefix(prefix)
    return url


def with_schema(url: str, schema: str) -> str:
    return url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"


def prepare_oncall_database(url: str) -> None:
    """Migrate to head and apply the example catalog, as `oncall db upgrade` and `config apply`."""
    from sqlmodel import Session

    from oncall.catalog.loader import load_catalog
    from oncall.catalog.service import apply_catalog
    from oncall.clock import system_clock
    from oncall.db import make_engine
    from oncall.migrate import upgrade

    engine = make_engine(url)
    try:
        upgrade(engine)
        with Session(engine) as session:
            apply_catalog(session=session, spec=load_catalog(CATALOG), now=system_clock())
            session.commit()
    finally:
        engine.dispose()


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
        "SQLite (temp file, WAL; migrated, example catalog applied)",
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
            "PostgreSQL (fresh schema; migrated, example catalog applied)",
            with_schema(admin, schemas[0]),
            with_schema(admin, schemas[1]),
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# --- the client ----------------------------------------------------------------------------


@dataclass
class Load:
    """What one batch of requests against one server did."""

    seconds: float = 0.0
    requests: int = 0
    alerts: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    def add(self, other: Load) -> None:
        self.seconds += other.seconds
        self.requests += other.requests
        self.alerts += other.alerts
        for status, n in other.errors.items():
            self.errors[status] = self.errors.get(status, 0) + n
        self.latencies.extend(other.latencies)

    @property
    def rate(self) -> float:
        return self.alerts / self.seconds if self.seconds else 0.0


async def send_batch(
    base_url: str, bodies: Iterable[tuple[bytes, int]], concurrency: int, max_seconds: float
) -> Load:
    """Send bodies with `concurrency` requests in flight until they run out or time is up."""
    import httpx

    load = Load()
    pending = iter(bodies)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        deadline = started + max_seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                item = next(pending, None)
                if item is None:
                    return
                body, n = item
                t0 = time.perf_counter()
                response = await client.post(ENDPOINT, content=body, headers=HEADERS)
                load.latencies.append(time.perf_counter() - t0)
                load.requests += 1
                if response.status_code == 200:
                    load.alerts += n
                else:
                    load.errors[response.status_code] = load.errors.get(response.status_code, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        load.seconds = time.perf_counter() - started
    return load


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --- phases --------------------------------------------------------------------------------


@dataclass
class Throughput:
    workload: str
    oncall: Load
    baseline: Load


@dataclass
class Latency:
    oncall: list[float]
    baseline: list[float]
    errors: int


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

    @property
    def correct(self) -> bool:
        return not self.problems


def throughput(plan: Plan, workload: Workload, oncall: Server, baseline: Server) -> Throughput:
    total = {"oncall": Load(), "baseline": Load()}
    servers = {"oncall": oncall, "baseline": baseline}
    for round_no in range(plan.rounds):
        order = ["baseline", "oncall"] if round_no % 2 == 0 else ["oncall", "baseline"]
        for name in order:
            bodies = workload.take(plan.slice_requests)
            load = asyncio.run(
                send_batch(servers[name].base_url, bodies, plan.concurrency, plan.slice_seconds)
            )
            servers[name].check_alive()
            if name == "baseline" and load.errors:
                raise RuntimeError(f"the baseline answered non-200: {load.errors}")
            total[name].add(load)
    return Throughput(workload.name, total["oncall"], total["baseline"])


def latency(
    plan: Plan, shape: PayloadShape, prefix: str, oncall: Server, baseline: Server
) -> Latency:
    """One request at a time, alternating servers; each a new group of the storm-200 shape."""
    import httpx

    times: dict[str, list[float]] = {"oncall": [], "baseline": []}
    errors = 0
    with httpx.Client(timeout=60) as client:
        for i in range(plan.latency_samples):
            for name, server in (("baseline", baseline), ("oncall", oncall)):
                body = shape.body(f"{prefix}-{name}-{i:05d}")
                t0 = time.perf_counter()
                response = client.post(server.base_url + ENDPOINT, content=body, headers=HEADERS)
                elapsed = time.perf_counter() - t0
                if response.status_code == 200:
                    times[name].append(elapsed)
                else:
                    errors += 1
    return Latency(times["oncall"], times["baseline"], errors)


def storm(plan: Plan, oncall: Server, oncall_url: str, prefix: str) -> Storm:
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
    schedule = first + second + (third if plan.storm_resend else [])

    before = _count_rows(oncall_url, [])
    result = asyncio.run(_deliver(oncall.base_url, schedule, plan.storm_concurrency))
    oncall.check_alive()
    seconds, retried, failed, incident_ids = result
    keys = [group_key(g) for g in groups]
    after = _count_rows(oncall_url, keys)

    problems = []
    if failed:
        problems.append(f"{failed} deliveries never got a 200")
    if after["incidents"] != STORM_GROUPS:
        problems.append(f"{after['incidents']} incidents for {STORM_GROUPS} groups")
    expected = STORM_GROUPS * STORM_GROUP_SIZE
    if after["alerts"] != expected:
        problems.append(f"{after['alerts']} alerts stored for {expected}")
    added = after["all_alerts"] - before["all_alerts"]
    if added != expected:
        problems.append(f"the alerts table grew by {added}, not {expected}")
    one_incident = sum(1 for i in range(STORM_GROUPS) if len(incident_ids.get(i, set())) == 1)
    if one_incident != STORM_GROUPS:
        problems.append(f"{STORM_GROUPS - one_incident} groups answered with several incident ids")
    complete = after["complete_groups"]
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
        incidents=after["incidents"],
        alerts=after["alerts"],
        alerts_added=added,
        groups_with_one_incident=one_incident,
        groups_complete=complete,
        problems=problems,
    )


async def _deliver(
    base_url: str, schedule: list[tuple[int, bytes]], concurrency: int
) -> tuple[float, dict[str, int], int, dict[int, set[int]]]:
    import httpx

    queue = list(reversed(schedule))
    retried: dict[str, int] = {}
    failed = 0
    incident_ids: dict[int, set[int]] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            nonlocal failed
            while queue:
                group, body = queue.pop()
                for attempt in range(8):
                    try:
                        response = await client.post(ENDPOINT, content=body, headers=HEADERS)
                        reason = str(response.status_code)
                    except httpx.TransportError as exc:
                        response, reason = None, type(exc).__name__
                    if response is not None and response.status_code == 200:
                        incident = response.json().get("incident_id")
                        if incident is not None:
                            incident_ids.setdefault(group, set()).add(incident)
                        break
                    retried[reason] = retried.get(reason, 0) + 1
                    if response is not None and response.status_code < 500:
                        failed += 1  # Alertmanager drops a delivery answered with a 4xx
                        break
                    await asyncio.sleep(0.05 * 2**attempt)
                else:
                    failed += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return seconds, retried, failed, incident_ids


def _count_rows(url: str, keys: list[str]) -> dict[str, int]:
    from sqlalchemy import func
    from sqlmodel import Session, col, select

    from oncall.db import make_engine
    from oncall.incidents.models import Alert, Incident

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            all_alerts = session.exec(select(func.count()).select_from(Alert)).one()
            if not keys:
                return {"all_alerts": all_alerts}
            ids = select(Incident.id).where(col(Incident.group_key).in_(keys))
            incidents = session.exec(
                select(func.count()).select_from(Incident).where(col(Incident.group_key).in_(keys))
            ).one()
            alerts = session.exec(
                select(func.count()).select_from(Alert).where(col(Alert.incident_id).in_(ids))
            ).one()
            per_incident = session.exec(
                select(Alert.incident_id, func.count())
                .where(col(Alert.incident_id).in_(ids))
                .group_by(col(Alert.incident_id))
            ).all()
            complete = sum(1 for _, n in per_incident if n == STORM_GROUP_SIZE)
            return {
                "all_alerts": all_alerts,
                "incidents": incidents,
                "alerts": alerts,
                "complete_groups": complete,
            }
    finally:
        engine.dispose()


# --- report --------------------------------------------------------------------------------


@dataclass
class Verdict:
    backend: str
    target: str
    goal: str
    passed: bool
    figures: str


def _rate(value: float) -> str:
    return f"{value:,.0f} alerts/s"


def _ms(value: float) -> str:
    return f"{value * 1000:,.1f} ms"


def _errors(load: Load) -> str:
    if not load.errors:
        return ""
    return " (non-200: " + ", ".join(f"{s}x{n}" for s, n in sorted(load.errors.items())) + ")"


def report(
    backend: Backend,
    results: list[Throughput],
    lat: Latency,
    storm_result: Storm,
) -> list[Verdict]:
    verdicts: list[Verdict] = []
    rows: list[tuple[str, str, str, str]] = []
    for t in results:
        ratio = t.oncall.rate / t.baseline.rate if t.baseline.rate else math.nan
        rows.append(
            (
                f"throughput, {t.workload}",
                _rate(t.oncall.rate) + _errors(t.oncall),
                _rate(t.baseline.rate) + _errors(t.baseline),
                f"{ratio:.0%} of baseline",
            )
        )
        rows.append(
            (
                "  requests (p99 under load)",
                f"{t.oncall.requests} ({_ms(percentile(t.oncall.latencies, 99))})",
                f"{t.baseline.requests} ({_ms(percentile(t.baseline.latencies, 99))})",
                "",
            )
        )
        figures = f"{_rate(t.oncall.rate)} = {ratio:.0%} of {_rate(t.baseline.rate)}"
        verdicts.append(
            Verdict(
                backend.name,
                f"throughput, {t.workload}",
                f">= {MIN_RATIO:.0%} of the baseline's rate",
                ratio >= MIN_RATIO,
                figures,
            )
        )
        verdicts.append(
            Verdict(
                backend.name,
                f"throughput, {t.workload}",
                f">= {MIN_ALERTS_PER_SECOND:,} alerts/s",
                t.oncall.rate >= MIN_ALERTS_PER_SECOND,
                figures,
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
    verdicts.append(
        Verdict(
            backend.name,
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
    rows.append(
        (
            "storm: check in the database",
            f"{s.incidents} incidents, {s.alerts:,} alerts",
            "",
            "; ".join(s.problems) or "one incident per group, every alert once",
        )
    )
    verdicts.append(
        Verdict(
            backend.name,
            "storm within a minute",
            f"< {MAX_STORM_SECONDS:.0f} s",
            s.seconds < MAX_STORM_SECONDS,
            f"{s.seconds:.1f} s for {s.deliveries} deliveries ({s.alerts_sent:,} alerts sent)",
        )
    )
    verdicts.append(
        Verdict(
            backend.name,
            "storm check",
            f"{STORM_GROUPS} incidents, {STORM_GROUPS * STORM_GROUP_SIZE:,} alerts, none lost",
            s.correct,
            f"{s.incidents} incidents, {s.alerts:,} alerts (+{s.alerts_added:,} in the table), "
            f"{s.groups_with_one_incident}/{STORM_GROUPS} groups on one incident"
            + (f"; {'; '.join(s.problems)}" if s.problems else ""),
        )
    )

    print(f"\n== {backend.label} ==")
    header = ("measure", "oncall", "baseline", "oncall / baseline")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        print("  " + "  ".join(row[i].ljust(widths[i]) for i in range(3)) + "  " + row[3])
    return verdicts


# --- main ----------------------------------------------------------------------------------


def run_backend(plan: Plan, backend: Backend, logs: Path) -> list[Verdict]:
    prepare_oncall_database(backend.oncall_url)
    prepare_baseline_database(backend.baseline_url)
    with ExitStack() as stack:
        oncall = Server("oncall", backend.oncall_url, logs)
        stack.callback(oncall.stop)
        baseline = Server("baseline", backend.baseline_url, logs)
        stack.callback(baseline.stop)
        oncall.wait_ready()
        baseline.wait_ready()

        run = uuid.uuid4().hex[:6]
        storm_shape = PayloadShape("storm-200", 200)
        mixed = [
            PayloadShape("storm-200", 200),
            PayloadShape("storm-200", 50, model="ltv"),
            PayloadShape("storm-200", 10),
            PayloadShape("drift-firing", 1, model="ltv"),
        ]
        # Warm both up (imports, statement caches, connections) before anything counts.
        warm = Workload("warm-up", mixed, f"warm-{run}")
        for server in (oncall, baseline):
            asyncio.run(send_batch(server.base_url, warm.take(8), 2, 30))

        workloads = [
            Workload("200 alerts/payload", [storm_shape], f"tp200-{run}"),
            Workload("mixed 200/50/10/1 alerts/payload", mixed, f"tpmix-{run}"),
        ]
        results = [throughput(plan, w, oncall, baseline) for w in workloads]
        lat = latency(plan, storm_shape, f"lat-{run}", oncall, baseline)
        storm_result = storm(plan, oncall, backend.oncall_url, f"storm-{run}")
    return report(backend, results, lat, storm_result)


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
    parser.add_argument("--quick", action="store_true", help="a short smoke run (a few seconds)")
    parser.add_argument(
        "--no-sqlite", action="store_true", help="skip SQLite (run PostgreSQL only)"
    )
    parser.add_argument("--serve", choices=["oncall", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.database_url)
        return 0

    plan = QUICK if args.quick else FULL
    if args.no_sqlite and not args.postgres:
        parser.error("--no-sqlite needs --postgres URL (or ONCALL_TEST_POSTGRES_URL)")
    print(
        f"Ingest benchmark ({'quick' if plan.quick else 'full'} run): "
        f"POST {ENDPOINT} beside a parse-and-insert baseline, uvicorn on 127.0.0.1, "
        f"httpx client with {plan.concurrency} requests in flight "
        f"({plan.rounds} x {plan.slice_seconds:g} s per server per workload, interleaved); "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs."
    )
    verdicts: list[Verdict] = []
    try:
        with tempfile.TemporaryDirectory(prefix="oncall-bench-") as tmp:
            logs = Path(tmp)
            if not args.no_sqlite:
                with sqlite_backend(Path(tmp)) as backend:
                    verdicts += run_backend(plan, backend, logs)
            if args.postgres:
                with postgres_backend(args.postgres) as backend:
                    verdicts += run_backend(plan, backend, logs)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 2
    except Exception as exc:  # the run broke: say why, exit 2 (not a measured failure)
        print(f"\nthe benchmark run broke: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2

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
