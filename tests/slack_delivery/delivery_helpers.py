"""Helpers for Slack delivery tests: alerts in, the outbox delivered, bodies read back."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.incidents.models import Incident
from oncall.integrations.slack.delivery import slack_handler
from oncall.integrations.slack.webapi import Pacer
from oncall.outbox import DeliveryReport, Handler, deliver_due
from oncall.scheduler import outbox_failure_on_incident

ALERTMANAGER = Path(__file__).resolve().parents[1] / "fixtures" / "alertmanager"


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ALERTMANAGER / f"{name}.json").read_text("utf-8"))
    return data


def fire(client: TestClient, body: dict[str, Any]) -> int:
    response = client.post("/api/v1/alerts/alertmanager", json=body)
    assert response.status_code == 200, response.text
    incident_id: int = response.json()["incident_id"]
    return incident_id


def gpu_group(n: int) -> dict[str, Any]:
    """The GPU capture as the n-th group of its own (another node): one incident each."""
    body = copy.deepcopy(payload("gpu-xid-firing"))
    body["groupKey"] = f"{body['groupKey']}-node{n}"
    for alert in body["alerts"]:
        alert["fingerprint"] = f"{alert['fingerprint'][:10]}{n:06d}"
        alert["labels"]["node"] = f"gpu-node-{n}"
    return body


def handler(settings: Settings, engine: Engine, clock: FrozenClock) -> Handler:
    """The Slack handler as `oncall serve` builds it, without the 1 s pacing between posts."""
    return slack_handler(settings, engine=engine, clock=clock, pacer=Pacer(0))


def deliver(
    settings: Settings, engine: Engine, clock: FrozenClock, slack: Handler | None = None
) -> DeliveryReport:
    return deliver_due(
        engine=engine,
        handlers={"slack": slack or handler(settings, engine, clock)},
        now=clock,
        on_failure=outbox_failure_on_incident(clock),
    )


def fire_and_post(
    client: TestClient,
    settings: Settings,
    engine: Engine,
    clock: FrozenClock,
    name: str = "batch-failure-firing",
) -> int:
    """An incident opened by an Alertmanager fixture, its Slack message posted."""
    incident_id = fire(client, payload(name))
    deliver(settings, engine, clock)
    return incident_id


def incident(engine: Engine, incident_id: int) -> Incident:
    with Session(engine) as s:
        found = s.get(Incident, incident_id)
        assert found is not None
        return found


def texts(blocks: list[dict[str, Any]]) -> Iterator[str]:
    """Every piece of text in blocks: section texts and fields, headers, button labels."""
    for block in blocks:
        if "text" in block:
            yield block["text"]["text"]
        for f in block.get("fields", []):
            yield f["text"]
        for e in block.get("elements", []):
            if isinstance(e.get("text"), dict):
                yield e["text"]["text"]
            elif isinstance(e.get("text"), str):
                yield e["text"]


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
