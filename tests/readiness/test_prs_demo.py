"""`oncall demo` prints the example models' PRS, and says which evidence it stands on."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def demo(tmp_path: Path, path: str) -> str:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ONCALL_", "SLACK_", "PAGERDUTY_"))
    }
    env["PATH"] = path
    done = subprocess.run(
        [sys.executable, "-m", "oncall.cli", "demo", "-o", str(tmp_path / "demo")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def row(output: str, model: str) -> list[str]:
    found = re.search(rf"^\s+{model}\s+growth-ds\s+(\S+)\s+(\S+)\s+(\S+)", output, re.MULTILINE)
    assert found is not None, output
    return list(found.groups())


@pytest.mark.e2e
def test_demo_scores_the_example_models_with_live_evidence_from_a_local_prometheus(
    tmp_path: Path,
) -> None:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("prometheus not installed (Debian package prometheus)")
    output = demo(tmp_path, f"{Path(prometheus).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    assert "Production Readiness Score (live evidence: a local Prometheus" in output
    assert "evidence: declared and live from Prometheus at http://127.0.0.1:" in output
    churn, ltv = row(output, "churn"), row(output, "ltv")
    assert 75 <= int(churn[0].rstrip("%")) <= 85
    assert int(ltv[0].rstrip("%")) < 10
    assert "Batch runs succeed (30 days) [failing]" in output  # ltv's first gap


def test_demo_without_prometheus_scores_declared_evidence_and_says_so(tmp_path: Path) -> None:
    output = demo(tmp_path, str(Path(sys.executable).parent))  # no `prometheus` on this PATH
    assert "Production Readiness Score (declared evidence only: no `prometheus` binary" in output
    churn, ltv = row(output, "churn"), row(output, "ltv")
    assert churn[2] == ltv[2] == "yes"  # partial: the live checks are unknown
    assert int(ltv[0].rstrip("%")) < 10
