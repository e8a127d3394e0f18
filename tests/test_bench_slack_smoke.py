"""The slash-command benchmark runs end to end (`--quick`): the bare Bolt apps and the real
`oncall serve` answer every signed request, and oncall's answers are the commands' text. The
timings are reported, never asserted here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "bench_slack_commands.py"


def test_the_slack_command_benchmark_runs_and_every_answer_is_right() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("bare-default", "bare-before-response", "oncall"):
        line = re.search(rf"^\s+{name}\s+p50 .* wrong answers (\d+)$", result.stdout, re.M)
        assert line is not None, result.stdout
        assert line.group(1) == "0"
    assert "target: oncall p99 < 50 ms" in result.stdout
