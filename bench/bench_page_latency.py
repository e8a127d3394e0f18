"""Page latency: from the webhook's answer for a page-now alert to PagerDuty receiving the
trigger, through `oncall serve` as deployed, beside a baseline of one event sent straight to
the same stub with the same client.

    python bench/bench_page_latency.py [--samples N] [--postgres URL]

The script runs this venv's `oncall db upgrade` and `oncall config apply` (the example catalog
with the `page-now` policy's first step `pagerduty` after 0) on a fresh SQLite file (and on
PostgreSQL when a URL is given or ONCALL_TEST_POSTGRES_URL is set: a fresh schema, dropped
afterwards), then starts `oncall serve --host 127.0.0.1 --port P` as a subprocess, with
PAGERDUTY_ROUTING_KEY set and ONCALL_PAGERDUTY_EVENTS_URL / SSL_CERT_FILE pointing at a local
HTTPS Events API stub (trustme certificates; the stub of tests/pagerduty) in this process.
Each sample posts one GPU XID alert group (a new groupKey, so a new incident routed to the
platform rotation's page-now policy) to `POST /api/v1/alerts/alertmanager` and measures from
the moment the 200 arrives to the moment the stub receives that incident's trigger (both
read from this process's monotonic clock). Samples are spaced out so that each stands alone.

Baseline: the same official client (`EventsApiV2Client`, kept alive as oncall keeps it) sending
one trigger from this process to the same stub: the floor of an HTTPS round trip here.

Prints p50/p90/max for both and the ratio of the p50s. Target: oncall's p50 < 500 ms. It
never fails on speed; exit code 2 when the run itself broke (a page that never arrived).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "pagerduty"))

from pagerduty_stub import ROUTING_KEY, PagerDutyStub, oncall_env  # noqa: E402

HOST = "127.0.0.1"
CATALOG = ROOT / "oncall" / "examples" / "oncall.yaml"
GPU_ALERT = ROOT / "oncall" / "examples" / "alertmanager" / "gpu-xid-firing.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def oncall_bin() -> str:
    script = Path(sys.executable).with_name("oncall")
    if not script.exists():
        raise SystemExit(f"no `oncall` next to {sys.executable}: install the project first")
    return str(script)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def describe(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"  {name:<34} p50 {statistics.median(ms):7.1f} ms   p90 {percentile(ms, 0.9):7.1f} ms"
        f"   max {max(ms):7.1f} ms   (n={len(ms)})"
    )


def baseline(stub: PagerDutyStub, samples: int) -> list[float]:
    from pagerduty import EventsApiV2Client

    from oncall.config import Settings
    from oncall.integrations.pagerduty import _ssl_context

    settings = Settings(SSL_CERT_FILE=str(stub.ca_file))  # type: ignore[call-arg]
    client = EventsApiV2Client(ROUTING_KEY, base_url=stub.url, verify=_ssl_context(settings))
    out: list[float] = []
    for i in range(samples + 1):
        started = time.perf_counter()
        client.trigger(f"baseline {i}", "bench", dedup_key=f"baseline-{i}")
        if i:  # the first one opens the connection, as oncall's first page does
            out.append(time.perf_counter() - started)
    client.close()
    return out


def start_oncall(env: dict[str, str], work: Path) -> subprocess.Popen[bytes]:
    port = int(env["BENCH_PORT"])
    log = (work / "oncall.log").open("wb")
    proc = subprocess.Popen(
        [oncall_bin(), "serve", "--host", HOST, "--port", str(port)],
        env=env,
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"oncall serve exited: see {work / 'oncall.log'}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=2):
                return proc
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("oncall serve did not become ready")


def post_alert(port: int, group: str) -> int:
    body = json.loads(GPU_ALERT.read_text())
    body["groupKey"] = f'{{}}/{{category="gpu_node"}}:{{run="{group}"}}'
    request = urllib.request.Request(
        f"http://{HOST}:{port}/api/v1/alerts/alertmanager",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.load(response)
    return int(answer["incident_id"])


def run_backend(label: str, url: str, stub: PagerDutyStub, samples: int, work: Path) -> list[float]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ONCALL_", "SLACK_", "PAGERDUTY_"))
    }
    env.update(oncall_env(stub))
    env.update(ONCALL_DATABASE_URL=url, PYTHONUNBUFFERED="1", BENCH_PORT=str(free_port()))
    for args in (["db", "upgrade"], ["config", "apply", str(CATALOG)]):
        subprocess.run([oncall_bin(), *args], env=env, cwd=work, check=True, capture_output=True)
    stub.reset()  # incident ids start again at 1: earlier runs' keys would match
    proc = start_oncall(env, work)
    port = int(env["BENCH_PORT"])
    latencies: list[float] = []
    try:
        post_alert(port, f"warm-{uuid.uuid4().hex[:8]}")  # first connection to the stub
        time.sleep(1.0)
        for i in range(samples):
            incident_id = post_alert(port, f"{label}-{i}-{uuid.uuid4().hex[:8]}")
            answered = time.monotonic()
            key = f"oncall-{incident_id}"
            deadline = answered + 10
            arrived = None
            while arrived is None and time.monotonic() < deadline:
                arrived = next(
                    (r.at for r in stub.accepted() if r.dedup_key == key and r.action == "trigger"),
                    None,
                )
                if arrived is None:
                    time.sleep(0.002)
            if arrived is None:
                print(f"  [{label}] the trigger for {key} never arrived", file=sys.stderr)
                raise SystemExit(2)
            # The worker is woken by the commit, so the trigger may even arrive first.
            latencies.append(max(arrived - answered, 0.0))
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--postgres", default=os.environ.get("ONCALL_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the stub's access log
    work = Path(tempfile.mkdtemp(prefix="oncall-bench-page-"))
    results: dict[str, list[float]] = {}
    with ExitStack() as stack:
        stub = stack.enter_context(PagerDutyStub(work))
        results["baseline: client -> stub"] = baseline(stub, args.samples)
        results["oncall (SQLite): answer -> trigger"] = run_backend(
            "sqlite", f"sqlite:///{work / 'oncall.db'}", stub, args.samples, work
        )
        if args.postgres:
            from sqlalchemy import create_engine, text

            schema = f"bench_{uuid.uuid4().hex[:10]}"
            admin = create_engine(args.postgres)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            sep = "&" if "?" in args.postgres else "?"
            try:
                results["oncall (PostgreSQL): answer -> trigger"] = run_backend(
                    "postgres",
                    f"{args.postgres}{sep}options=-csearch_path%3D{schema}",
                    stub,
                    args.samples,
                    work,
                )
            finally:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    print("Page latency: webhook answered -> HTTPS PagerDuty stub receives the trigger")
    for name, values in results.items():
        print(describe(name, values))
    floor = statistics.median(results["baseline: client -> stub"])
    for name, values in results.items():
        if name.startswith("oncall"):
            p50 = statistics.median(values)
            verdict = "meets" if p50 < 0.5 else "misses"
            print(f"  {name}: p50 is {p50 / floor:.1f}x the baseline; {verdict} p50 < 500 ms")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
