"""`oncall demo` shows the Slack messages it would send as readable text: the blocks line by
line, people by name, the buttons as [labels]."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_demo_prints_each_slack_message_readably(tmp_path: Path) -> None:
    oncall = Path(sys.executable).parent / "oncall"
    result = subprocess.run(
        [str(oncall), "demo", "-o", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "→ Slack C0GROWTH01: post\n    | == WARNING · Drift score 0.9 for model churn ==" in out
    assert "    | On call: @Taka Sato" in out
    assert "    | [Acknowledge] [Resolve] [Escalate now]" in out
    assert "    | Acknowledged by @Taka Sato" in out
    # The RCA draft's link goes to the thread, and the message gains its RCA button.
    assert "→ Slack C0GROWTH01: thread RCA draft: http://127.0.0.1:8080/rca/1" in out
    assert "    | [RCA]" in out
