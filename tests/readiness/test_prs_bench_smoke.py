"""The PRS benchmark runs (`--quick`) and Prometheus receives one query per metric for all
models. Its timings are printed, never asserted here."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def test_quick_prs_benchmark_prints_its_figures_and_batches_the_queries() -> None:
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus not installed (Debian package prometheus)")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_prs.py"), "--quick", "--models", "40"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for figure in ("baseline: list the models", "table, cold", "table, warm cache", "command"):
        assert re.search(rf"{figure}.*\d+\.\d ms", out), out
    assert re.search(r"Prometheus requests for one table\s+7\s+\(6 queries", out), out
    assert re.search(r"one query per metric for all models PASS", out), out
