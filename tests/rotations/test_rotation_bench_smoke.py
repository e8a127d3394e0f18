"""The rotation benchmark runs end to end (`--quick`) and reports every figure it promises.
Timings are printed by the benchmark, never asserted here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_rotations.py"


def test_rotation_benchmark_runs_and_reports_its_figures() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for label in (
        "baseline: zoneinfo conversion",
        "baseline: one hand-off",
        "who, pure",
        "who_is_on_call, SQLite",
        "one year, final shifts",
        "one year, export from SQLite",
    ):
        assert label in result.stdout
