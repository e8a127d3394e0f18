"""The Slack delivery benchmark runs end to end (`--quick`): `oncall serve` with a Slack
token posts every incident to the local stub, beside the baseline, and the figures are
printed. Timings are reported, never asserted here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "bench_slack_delivery.py"


def test_quick_slack_delivery_bench_measures_both_sides() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ONCALL_"))}
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for side in ("oncall", "baseline"):
        assert re.search(rf"^\s+{side}\s+n= 10\s+p50\s+-?[\d.]+ ms", result.stdout, re.MULTILINE), (
            result.stdout
        )
    assert "p50 ratio oncall/baseline" in result.stdout
    assert re.search(r"target p50 < 500 ms: (met|NOT met)", result.stdout)
