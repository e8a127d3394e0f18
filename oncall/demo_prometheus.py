"""A local Prometheus for `oncall demo`: it scrapes an in-process exporter of the example
models' metrics and loads the shipped alert rules, so the demo's PRS has live evidence.

Only when the `prometheus` binary is installed; otherwise the demo scores declared evidence
and says so. Everything binds to 127.0.0.1 on free ports and stops when the demo ends.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from oncall.shipped import shipped_folder

STARTUP_SECONDS = 30.0


@dataclass(frozen=True)
class LocalPrometheus:
    url: str | None  # None: not running, and `why` says why
    why: str


class ExampleExporter:
    """The example models' metrics, served with prometheus_client as a model service would.

    churn is served online, its drift job ran an hour ago and its scoring job succeeds;
    ltv is a nightly batch job that mostly fails. `run_batches` records the runs after the
    first scrape, so that Prometheus sees them as an increase."""

    def __init__(self, now: datetime) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = CollectorRegistry()
        predictions = Counter(
            "model_predictions", "Predictions served.", ["model"], registry=self.registry
        )
        drift = Gauge(
            "model_drift_score", "Drift score.", ["model", "feature"], registry=self.registry
        )
        drift_run = Gauge(
            "model_drift_last_run_timestamp_seconds",
            "End of the last drift job.",
            ["model"],
            registry=self.registry,
        )
        self.runs = Counter(
            "model_batch_runs",
            "Batch job runs.",
            ["model", "job_name", "status"],
            registry=self.registry,
        )
        last_success = Gauge(
            "model_batch_last_success_timestamp_seconds",
            "End of the last successful run.",
            ["model", "job_name"],
            registry=self.registry,
        )
        predictions.labels("churn").inc(125_000)
        drift.labels("churn", "tenure").set(0.12)
        drift_run.labels("churn").set(now.timestamp() - 3600)
        for model, job in (("churn", "churn-scoring"), ("ltv", "ltv-nightly")):
            for status in ("success", "failure"):  # both exported from the first run
                self.runs.labels(model, job, status)
        last_success.labels("ltv", "ltv-nightly").set(now.timestamp() - 3 * 86400)
        self._server: Any = None

    def start(self) -> str:
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        return f"127.0.0.1:{self._server.server_port}"

    def run_batches(self) -> None:
        self.runs.labels("churn", "churn-scoring", "success").inc(30)
        self.runs.labels("ltv", "ltv-nightly", "success").inc(1)
        self.runs.labels("ltv", "ltv-nightly", "failure").inc(9)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _query(client: httpx.Client, url: str, promql: str) -> list[dict[str, Any]]:
    answer = client.get(f"{url}/api/v1/query", params={"query": promql})
    answer.raise_for_status()
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def _wait(what: str, check: Any, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.25)
    raise TimeoutError(what)


def _rule_files() -> list[str]:
    try:
        return sorted(str(p) for p in shipped_folder("prometheus_rules").glob("*.yml"))
    except FileNotFoundError:
        return []


@contextlib.contextmanager
def running_prometheus(binary: str, work: Path, targets: list[str]) -> Iterator[str]:
    """Prometheus on a free loopback port scraping `targets` (host:port) every second, with
    the shipped rules loaded; yields its URL once it is ready. Always stopped afterwards."""
    work.mkdir(parents=True, exist_ok=True)
    config = work / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": _rule_files(),
                "scrape_configs": [
                    {"job_name": "models", "static_configs": [{"targets": targets}]}
                ],
            }
        ),
        encoding="utf-8",
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with (work / "prometheus.log").open("ab") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            _wait(
                "Prometheus ready",
                lambda: process.poll() is None and client.get(f"{url}/-/ready").status_code == 200,
                time.monotonic() + STARTUP_SECONDS,
            )
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def wait_for_query(url: str, promql: str, rows: int, *, seconds: float = STARTUP_SECONDS) -> None:
    """Wait until `promql` returns `rows` series (the scrapes have landed); TimeoutError else."""
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        _wait(
            f"{promql} with {rows} series",
            lambda: len(_query(client, url, promql)) == rows,
            time.monotonic() + seconds,
        )


@contextlib.contextmanager
def local_prometheus(folder: Path, now: datetime) -> Iterator[LocalPrometheus]:
    """Prometheus scraping the example exporter; yields where it answers, or why it does not."""
    binary = shutil.which("prometheus")
    if binary is None:
        yield LocalPrometheus(None, "no `prometheus` binary on PATH (Debian package prometheus)")
        return
    exporter = ExampleExporter(now)
    with contextlib.ExitStack() as stack:
        stack.callback(exporter.stop)
        try:
            target = exporter.start()
            url = stack.enter_context(running_prometheus(binary, folder / "prometheus", [target]))
            wait_for_query(url, "model_batch_runs_total", 4)
            exporter.run_batches()
            wait_for_query(url, "increase(model_batch_runs_total[30d]) > 0", 3)
        except TimeoutError as exc:
            found = LocalPrometheus(None, f"the local Prometheus did not show {exc} in time")
        else:
            found = LocalPrometheus(url, "a local Prometheus scraping the example models' metrics")
        yield found
