"""PRS with live evidence from a real Prometheus scraping a tiny exporter of model metrics.

Prometheus loads the shipped rule files as they are (the rules API then lists them) and
scrapes the exporter every second; the test drives the exporter's counters the way batch
jobs do (both statuses exported from the first run, then increased), so `increase()` over
30 days sees real runs.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_stack import RULES_DIR, MetricsExporter, http, start_on_free_port, wait_for
from sqlalchemy.engine import Engine
from sqlmodel import Session

from oncall.integrations.prometheus import QUERIES, PrometheusEvidence
from oncall.readiness.models import CheckStatus
from oncall.readiness.service import model_prs, models_prs

pytestmark = pytest.mark.e2e

DEADLINE = 60.0
T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # conftest's: the example catalog's time


@dataclass
class LivePrometheus:
    url: str
    exporter: MetricsExporter

    def query(self, promql: str) -> list[dict[str, Any]]:
        with http() as client:
            answer = client.get(self.url + "/api/v1/query", params={"query": promql})
            answer.raise_for_status()
            result: list[dict[str, Any]] = answer.json()["data"]["result"]
            return result


@contextlib.contextmanager
def running_prometheus(workdir: Path, exporter: MetricsExporter) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus not installed (Debian package prometheus)")
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in sorted(RULES_DIR.glob("*.yml"))],
        "scrape_configs": [
            {
                "job_name": "models",
                "static_configs": [{"targets": [exporter.url.split("/")[2]]}],
            }
        ],
    }
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    (workdir / "data").mkdir()
    process, port = start_on_free_port(
        "prometheus",
        workdir / "prometheus.log",
        lambda port: [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        lambda port: f"http://127.0.0.1:{port}/-/ready",
        cwd=workdir,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


def runs(exporter: MetricsExporter, model: str, job: str, success: float, failure: float) -> None:
    for status, value in (("success", success), ("failure", failure)):
        exporter.set(
            "model_batch_runs_total", {"model": model, "job_name": job, "status": status}, value
        )


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePrometheus]:
    exporter = MetricsExporter()
    now = T0.timestamp()
    # churn: served online, drift job ran an hour before T0, its scoring job always succeeds.
    exporter.set("model_predictions_total", {"model": "churn"}, 125_000)
    exporter.set("model_drift_score", {"model": "churn", "feature": "tenure"}, 0.12)
    exporter.set("model_drift_last_run_timestamp_seconds", {"model": "churn"}, now - 3600)
    runs(exporter, "churn", "churn-scoring", 0, 0)
    # ltv: a nightly batch job and nothing else; its last success was three days before T0.
    runs(exporter, "ltv", "ltv-nightly", 0, 0)
    exporter.set(
        "model_batch_last_success_timestamp_seconds",
        {"model": "ltv", "job_name": "ltv-nightly"},
        now - 3 * 86400,
    )
    exporter.start()
    try:
        with running_prometheus(tmp_path_factory.mktemp("prs-prometheus"), exporter) as url:
            live = LivePrometheus(url, exporter)
            wait_for(
                "the first scrape of the batch counters",
                lambda: live.query("count(model_batch_runs_total)"),
                lambda rows: bool(rows) and float(rows[0]["value"][1]) == 4,
                timeout=DEADLINE,
            )
            # The runs happen: 30 good ones for churn, 1 good and 9 failed for ltv.
            runs(exporter, "churn", "churn-scoring", 30, 0)
            runs(exporter, "ltv", "ltv-nightly", 1, 9)
            wait_for(
                "Prometheus seeing the runs",
                lambda: live.query(QUERIES["batch_runs"]),
                lambda rows: sum(float(r["value"][1]) > 0 for r in rows) == 3,
                timeout=DEADLINE,
            )
            yield live
    finally:
        exporter.stop()


def test_live_evidence_from_prometheus_scores_the_talks_two_models(
    catalog: Engine, prometheus: LivePrometheus
) -> None:
    live = PrometheusEvidence(prometheus.url, timeout=3.0)
    with Session(catalog) as session:
        churn, ltv = models_prs(session, now=T0, live=live)
    assert (churn.model_id, ltv.model_id) == ("churn", "ltv")
    assert churn.live and ltv.live
    status = {c.id: c.status for c in churn.checks}
    assert status["monitoring.metrics"] is CheckStatus.automated
    assert status["observability.drift"] is CheckStatus.automated
    assert status["observability.drift_job"] is CheckStatus.automated
    assert status["operations.batch"] is CheckStatus.automated
    alerts = next(c for c in churn.checks if c.id == "monitoring.alerts")
    assert alerts.status is CheckStatus.automated
    assert "ModelDriftHigh" in alerts.evidence.detail and alerts.evidence.source == prometheus.url
    # Good tests, decent documentation, stable production: near 80%.
    assert churn.percent is not None and 75 <= churn.percent <= 85

    ltv_checks = {c.id: c for c in ltv.checks}
    assert ltv_checks["operations.batch"].status is CheckStatus.failing
    assert "10% of runs succeeded" in ltv_checks["operations.batch"].evidence.detail
    assert ltv_checks["monitoring.metrics"].status is CheckStatus.missing
    assert ltv_checks["observability.drift"].status is CheckStatus.missing
    assert ltv_checks["monitoring.alerts"].status is CheckStatus.automated  # BatchJobFailed
    # No tests, partial documentation, a high batch failure rate: under 10%.
    assert ltv.percent is not None and ltv.percent < 10
    assert ltv.gaps()[0].status in (CheckStatus.missing, CheckStatus.failing)


def test_one_query_per_metric_for_all_models_and_a_warm_cache_asks_nothing(
    catalog: Engine, prometheus: LivePrometheus
) -> None:
    live = PrometheusEvidence(prometheus.url, timeout=3.0, cache_seconds=60)
    with Session(catalog) as session:
        models_prs(session, now=T0, live=live)
        first = live.requests_made
        model_prs(session, "churn", now=T0, live=live)
        models_prs(session, now=T0 + timedelta(seconds=1), live=live)
    assert first == len(QUERIES) + 1  # the queries and the rules API, whatever the models
    assert live.requests_made == first
