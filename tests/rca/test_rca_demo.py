"""`oncall demo` writes the RCA of its resolved incidents and prints where."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from oncall.cli import app


def test_demo_writes_the_rca_of_the_resolved_drift_incident(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--output", str(tmp_path)])

    assert result.exit_code == 0, result.output
    printed = dict(re.findall(r"^\s+RCA (#\d+)\s+(\S+)$", result.output, flags=re.MULTILINE))
    assert printed, result.output
    texts = {number: Path(path).read_text(encoding="utf-8") for number, path in printed.items()}
    assert all(Path(path).parent == tmp_path for path in printed.values())
    churn = next(t for t in texts.values() if "for model churn" in t.splitlines()[0])
    assert "- Time to acknowledge: 1 min (by taka)" in churn
    assert "## Timeline" in churn and "## Root cause" in churn
    # The thread got the link (printed where Slack would have been called).
    assert re.search(r"thread\s+RCA draft: http://127\.0\.0\.1:\d+/rca/\d+", result.output)
