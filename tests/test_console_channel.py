"""The console channel prints what Slack and PagerDuty would get, one line per message."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from oncall.clock import FrozenClock
from oncall.integrations.console import console_handler
from oncall.outbox import deliver_due

ALERTMANAGER = Path(__file__).parent / "fixtures" / "alertmanager"


def test_console_lines_name_the_target_and_cannot_be_split_by_alert_text(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    body = json.loads((ALERTMANAGER / "gpu-xid-firing.json").read_text())
    body["commonAnnotations"]["summary"] = "GPU down\nINFO forged: all clear"
    assert client.post("/api/v1/alerts/alertmanager", json=body).status_code == 200

    lines: list[str] = []
    console = console_handler(lines.append)
    report = deliver_due(
        engine=catalog, handlers={"slack": console, "pagerduty": console}, now=clock
    )
    assert report.delivered == 2
    assert len(lines) == 2
    assert lines[0].startswith("Slack C0MLPLAT01: post")
    assert "GPU down\\nINFO forged: all clear" in lines[0]
    assert lines[1].startswith("PagerDuty: trigger dedup_key=oncall-1 severity=critical")
    assert all("\n" not in line for line in lines)
