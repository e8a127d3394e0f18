"""PRS benchmark: `oncall prs` (the table) for 200 models with live evidence from a real
Prometheus, cold and with a warm cache, and how many queries Prometheus received.

What it measures, beside what:
- The table as `oncall prs` builds it (score every model, render the rows) from SQLite, with
  live evidence from a Prometheus on a loopback port that scrapes 200 models' metrics and
  loads the shipped rules. Cold: a new PrometheusEvidence each time (Prometheus is asked);
  warm: the same one (its cache answers). Target: warm under 1 s.
- Beside it, the baseline: reading the same 200 models from the same database and printing
  one row each (no scoring, no Prometheus).
- Queries: Prometheus's own `prometheus_http_requests_total` for the query and rules APIs,
  before and after one cold table. Target: one query per metric for all models (7 requests
  for the table, whatever the number of models).
- For information: `oncall prs` as a command, in a fresh process (interpreter start included).

Run: `python bench/bench_prs.py` (`--quick`: fewer repetitions, for a smoke test;
`--models N`). Needs the `prometheus` binary. Prints absolute figures and ratios; asserts
nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from sqlmodel import Session, col, select

import oncall.tables  # noqa: F401  (registers every table)
from oncall import migrate
from oncall.catalog.loader import parse_catalog_text
from oncall.catalog.models import Model
from oncall.catalog.service import apply_catalog
from oncall.db import make_engine
from oncall.demo_prometheus import running_prometheus, wait_for_query
from oncall.integrations.prometheus import QUERIES, PrometheusEvidence
from oncall.readiness import render
from oncall.readiness.service import models_prs

ROOT = Path(__file__).resolve().parents[1]
PRACTICES = ("automated", "manual", "none")


def catalog_text(models: int) -> str:
    """One team and rotation; models with readiness facts varied by their number."""
    items = []
    for i in range(models):
        items.append(
            {
                "id": f"model-{i:03d}",
                "name": f"Model {i}",
                "team": "ds",
                "rotation": "ds-primary",
                "escalation_policy": "default",
                "readiness": {
                    "documentation": {"readme": True, "runbook": "runbooks/model-drift.md"},
                    "tests": {"unit": PRACTICES[i % 3], "integration": PRACTICES[(i + 1) % 3]},
                    "data_checks": PRACTICES[(i + 2) % 3],
                    "governance": {"approved_on": "2026-02-01"},
                },
            }
        )
    return yaml.safe_dump(
        {
            "teams": [{"id": "ds", "name": "Data Science"}],
            "people": [{"id": "emily", "name": "Emily", "timezone": "UTC"}],
            "rotations": [
                {
                    "id": "ds-primary",
                    "team": "ds",
                    "layers": [{"members": ["emily"], "start": "2026-01-05T09:00", "shift": "1w"}],
                }
            ],
            "escalation_policies": [
                {"id": "default", "steps": [{"after": "0m", "notify": ["oncall"]}]}
            ],
            "models": items,
        }
    )


def exporter(models: int, now: float) -> tuple[CollectorRegistry, Counter]:
    registry = CollectorRegistry()
    predictions = Counter("model_predictions", "", ["model"], registry=registry)
    drift = Gauge("model_drift_score", "", ["model", "feature"], registry=registry)
    drift_run = Gauge("model_drift_last_run_timestamp_seconds", "", ["model"], registry=registry)
    runs = Counter("model_batch_runs", "", ["model", "job_name", "status"], registry=registry)
    for i in range(models):
        model = f"model-{i:03d}"
        predictions.labels(model).inc(1000 + i)
        for feature in ("f1", "f2", "f3"):
            drift.labels(model, feature).set(0.1)
        drift_run.labels(model).set(now - 3600 * (i % 48))
        for status in ("success", "failure"):
            runs.labels(model, "scoring", status)
    return registry, runs


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def requests_seen(url: str) -> float:
    """Query and rules API requests Prometheus has served, from its own /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", trust_env=False).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == "prometheus_http_requests":
            for sample in family.samples:
                handler = sample.labels.get("handler")
                if sample.name.endswith("_total") and handler in (
                    "/api/v1/query",
                    "/api/v1/rules",
                ):
                    total += sample.value
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke test)")
    parser.add_argument("--models", type=int, default=200)
    args = parser.parse_args()
    binary = shutil.which("prometheus")
    if binary is None:
        sys.exit("bench_prs needs the `prometheus` binary (Debian package prometheus)")
    repeat = 3 if args.quick else 15
    work = Path(tempfile.mkdtemp(prefix="bench-prs-"))
    url_db = f"sqlite:///{work / 'oncall.db'}"
    engine = make_engine(url_db)
    migrate.upgrade(engine)
    now = datetime.now(UTC)
    with Session(engine) as session:
        spec = parse_catalog_text(catalog_text(args.models), source="bench")
        apply_catalog(session=session, spec=spec, now=now, source="bench")
        session.commit()

    registry, runs = exporter(args.models, now.timestamp())
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        with running_prometheus(
            binary, work / "prometheus", [f"127.0.0.1:{server.server_port}"]
        ) as url:
            wait_for_query(url, "model_batch_runs_total", 2 * args.models)
            for i in range(args.models):  # the runs of the last 30 days: most succeed
                runs.labels(f"model-{i:03d}", "scoring", "success").inc(30)
                runs.labels(f"model-{i:03d}", "scoring", "failure").inc(i % 4)
            wait_for_query(
                url, 'increase(model_batch_runs_total{status="success"}[30d]) > 0', args.models
            )

            def table(live: PrometheusEvidence) -> list[str]:
                with Session(engine) as session:
                    return render.table(models_prs(session, now=now, live=live))

            def baseline() -> list[str]:
                with Session(engine) as session:
                    rows = session.exec(select(Model).order_by(col(Model.id))).all()
                    return [f"{m.id:<12} {m.team_id:<6} {m.name}" for m in rows]

            before = requests_seen(url)
            rows = table(PrometheusEvidence(url))
            after = requests_seen(url)
            queries = after - before
            assert len(rows) == args.models + 1
            cold = timed(lambda: table(PrometheusEvidence(url)), repeat)
            warm_source = PrometheusEvidence(url, cache_seconds=3600)
            table(warm_source)
            warm = timed(lambda: table(warm_source), repeat)
            base = timed(baseline, repeat)

            env = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")}
            env.update(ONCALL_DATABASE_URL=url_db, ONCALL_PROMETHEUS_URL=url)
            command = [sys.executable, "-m", "oncall.cli", "prs"]
            cli = timed(
                lambda: subprocess.run(command, env=env, capture_output=True, check=True),
                max(1, repeat // 3),
            )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        engine.dispose()
        shutil.rmtree(work, ignore_errors=True)

    def ms(values: list[float]) -> str:
        return f"{1000 * statistics.median(values):8.1f} ms"

    b = statistics.median(base)
    print(f"PRS table of {args.models} models with live evidence (median of {repeat})")
    print(f"  baseline: list the models from SQLite      {ms(base)}")
    for label, values in (("cold (asks Prometheus)", cold), ("warm cache", warm)):
        ratio = statistics.median(values) / b
        print(f"  oncall prs table, {label:<24} {ms(values)}   {ratio:6.1f}x baseline")
    print(f"  `oncall prs` command, fresh process        {ms(cli)}   (interpreter start included)")
    print(
        f"  Prometheus requests for one table          {queries:8.0f}      "
        f"({len(QUERIES)} queries + the rules API, for {args.models} models)"
    )
    warm_ok = statistics.median(warm) < 1.0
    batched = queries == len(QUERIES) + 1
    print(f"  target: warm under 1 s                      {'PASS' if warm_ok else 'FAIL'}")
    print(f"  target: one query per metric for all models {'PASS' if batched else 'FAIL'}")


if __name__ == "__main__":
    main()
