"""The console channel prints what Slack and PagerDuty would get, one line per message."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from oncall.clock import FrozenClock
from oncall.integrations.console import console_handler
from oncall.outbox import deliver_due

ALERTMANAGER = Path(__file__).parent / "fixtures" / "alertmanager"


def test_console_shows_each_message_readably_and_alert_text_cannot_forge_lines(
    client: TestClient, catalog: Engine, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.loads((ALERTMANAGER / "gpu-xid-firing.json").read_text())
    body["commonAnnotations"]["summary"] = "GPU down\nINFO forged: all clear"
    assert client.post("/api/v1/alerts/alertmanager", json=body).status_code == 200

    lines: list[str] = []
    console = console_handler(lines.append, clock=clock)
    report = deliver_due(
        engine=catalog, handlers={"slack": console, "pagerduty": console}, now=clock
    )
    assert report.delivered == 2
    assert len(lines) == 2
    slack, page = lines
    # The Slack message as text: its blocks line by line, its buttons as [labels].
    assert slack.startswith("Slack C0MLPLAT01: post\n    | == CRITICAL · GPU down INFO forged")
    assert "\n    | [Acknowledge] [Resolve] [Escalate now]" in slack
    assert "[Runbook] [Incident page]" in slack
    # Every line after the first is indented: alert text never starts a line of its own.
    assert all(line.startswith("    | ") for line in slack.splitlines()[1:])
    assert page.startswith("PagerDuty: trigger dedup_key=oncall-1 severity=critical")
    assert "\n" not in page


def test_the_log_gets_one_line_per_message(
    client: TestClient, catalog: Engine, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.loads((ALERTMANAGER / "gpu-xid-firing.json").read_text())
    body["commonAnnotations"]["summary"] = "GPU down\nINFO forged: all clear"
    client.post("/api/v1/alerts/alertmanager", json=body)
    caplog.set_level(logging.INFO, logger="oncall.console")
    deliver_due(engine=catalog, handlers={"slack": console_handler(clock=clock)}, now=clock)
    [record] = [r for r in caplog.records if r.name == "oncall.console"]
    message = record.getMessage()
    assert "\n" not in message and "\r" not in message
    assert message.startswith("Slack C0MLPLAT01: post | == CRITICAL · GPU down INFO forged")
