"""The ingest benchmark runs end to end (`--quick`) and its storm check passes: 10,000 alerts in
50 groups, re-sent and partly concurrent, end up as exactly 50 incidents and 10,000 alerts.
Correctness only: the benchmark's timings are reported, never asserted here."""

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


def test_quick_ingest_benchmark_loses_no_alert_in_the_storm_on_sqlite() -> None:
    result = run_quick_bench()
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    assert storm_check(result.stdout, "sqlite") == "PASS", report


@pytest.mark.postgres
@pytest.mark.skipif(
    not POSTGRES_URL,
    reason="PostgreSQL not configured: set ONCALL_TEST_POSTGRES_URL "
    "(e.g. postgresql://postgres@127.0.0.1:5432/test)",
)
def test_quick_ingest_benchmark_loses_no_alert_in_the_storm_on_postgres() -> None:
    assert POSTGRES_URL is not None
    result = run_quick_bench("--postgres", POSTGRES_URL, "--no-sqlite")
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    assert storm_check(result.stdout, "postgres") == "PASS", report
