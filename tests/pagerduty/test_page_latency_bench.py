"""The page-latency benchmark runs end to end with a few samples: `oncall serve` as deployed
pages the HTTPS stub for each page-now alert, and the figures are printed (never asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_page_latency_bench_pages_the_stub_for_every_sample() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ONCALL_TEST_POSTGRES_URL"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_page_latency.py"), "--samples", "3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "oncall (SQLite): answer -> trigger p50" in result.stdout
    assert "(n=3)" in result.stdout
