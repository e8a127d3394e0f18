"""What the PagerDuty tests do again and again: settings pointing at the stub, an
Alertmanager notification into the real app, one delivery pass, the PagerDuty outbox rows."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from pagerduty_stub import PagerDutyStub, oncall_env
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from oncall import outbox
from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.integrations.delivery import build_handlers
from oncall.outbox import OutboxMessage
from oncall.scheduler import outbox_failure_on_incident

ALERTMANAGER = Path(__file__).resolve().parents[1] / "fixtures" / "alertmanager"


def stub_settings(stub: PagerDutyStub, **extra: str) -> Settings:
    """Settings pointing at the stub; the engine is passed to the app explicitly."""
    return Settings(ONCALL_DATABASE_URL="sqlite://", **oncall_env(stub, **extra))  # type: ignore[arg-type]


def fire(client: TestClient, name: str = "batch-failure-firing") -> int:
    """Post an Alertmanager fixture; the incident it opened or joined."""
    body = json.loads((ALERTMANAGER / f"{name}.json").read_text())
    response = client.post("/api/v1/alerts/alertmanager", json=body)
    assert response.status_code == 200, response.text
    incident_id: int = response.json()["incident_id"]
    return incident_id


def deliver(engine: Engine, settings: Settings, clock: FrozenClock) -> outbox.DeliveryReport:
    """One pass of every channel's due rows, failures shown on their incident."""
    return outbox.deliver_due(
        engine=engine,
        handlers=build_handlers(settings, engine=engine),
        now=clock,
        on_failure=outbox_failure_on_incident(clock),
    )


def pagerduty_rows(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(OutboxMessage)
                .where(OutboxMessage.channel == "pagerduty")
                .order_by(col(OutboxMessage.id))
            )
        )
