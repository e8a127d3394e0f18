"""The ingest benchmark runs end to end (`--quick`): it serves `oncall serve` and the baseline,
prints its figures (the one-alert-per-request case at 8 and 32 connections, the outbox drain),
and its storm check passes: 10,000 alerts in 50 groups, re-sent and partly concurrent, end up
as exactly 50 incidents and 10,000 alerts. The benchmark's timings are reported, never
asserted here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "bench_ingest.py"
POSTGRES_URL = os.environ.get("ONCALL_TEST_POSTGRES_URL")


def run_quick_bench(*args: str) -> subprocess.CompletedProcess[str]:
    # PostgreSQL only when asked for by argument, so the SQLite run stays a few seconds long.
    env = {k: v for k, v in os.environ.items() if k != "ONCALL_TEST_POSTGRES_URL"}
    return subprocess.run(
        [sys.executable, str(BENCH), "--quick", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def storm_check(output: str, backend: str) -> str | None:
    match = re.search(
        rf"^\s*\[{backend}\]\s+storm check\s.*?\s(PASS|FAIL)\s", output, flags=re.MULTILINE
    )
    return match.group(1) if match else None


def prints_its_figures(output: str, backend: str) -> list[str]:
    """The figure lines that are missing (their values are never checked)."""
    expected = [
        r"^\s*200 alerts/payload, new groups, \d+ connections\s+[\d,]+ alerts/s\s+[\d,]+ alerts/s",
        r"^\s*mixed 200/50/10/1 alerts/payload, \d+ connections\s+[\d,]+ alerts/s",
        r"^\s*storm: 10,000 alerts, 50 groups\s+[\d.]+ s",
        r"^\s*log lines written\s+[\d,]+\s+[\d,]+",
    ]
    for connections in (8, 32):
        expected.append(
            rf"^\s*1 alert/request, new groups, {connections} connections\s+[\d,]+ new "
            r"incidents/s\s+[\d,]+ requests/s\s+\d+% of baseline"
        )
        expected.append(
            rf"^\s*\[{backend}\]\s+1 alert/request, new groups, {connections} connections\s+"
            r">= 40% of the baseline's requests/s\s+(PASS|FAIL)\s"
        )
    expected.append(r"^\s*outbox after the load\s.*rows delivered")
    expected.append(r"^\s*latency under load p50 / p99\s+[\d.,]+ ms / [\d.,]+ ms")
    return [e for e in expected if not re.search(e, output, flags=re.MULTILINE)]


def test_quick_ingest_benchmark_prints_its_figures_and_loses_no_alert_on_sqlite() -> None:
    result = run_quick_bench()
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    assert storm_check(result.stdout, "sqlite") == "PASS", report
    assert prints_its_figures(result.stdout, "sqlite") == [], report


@pytest.mark.postgres
@pytest.mark.skipif(
    not POSTGRES_URL,
    reason="PostgreSQL not configured: set ONCALL_TEST_POSTGRES_URL "
    "(e.g. postgresql://postgres@127.0.0.1:5432/test)",
)
def test_quick_ingest_benchmark_prints_its_figures_and_loses_no_alert_on_postgres() -> None:
    assert POSTGRES_URL is not None
    result = run_quick_bench("--postgres", POSTGRES_URL, "--no-sqlite")
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    assert storm_check(result.stdout, "postgres") == "PASS", report
    assert prints_its_figures(result.stdout, "postgres") == [], report
