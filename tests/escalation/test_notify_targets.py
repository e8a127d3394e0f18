"""Every notify target does what the catalog says: the on-call reminder, `person:<id>`,
`rotation:<id>` (whoever is on call there), `team_channel` and `pagerduty`. Outbox payloads
name people by catalog id; the Slack adapter turns ids into mentions."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from oncall.catalog.models import EscalationPolicy
from oncall.clock import FrozenClock
from oncall.incidents.models import EventKind, IncidentEvent
from oncall.incidents.service import fire_due_escalations
from oncall.outbox import OutboxMessage
from oncall.rotations.queries import on_call_person

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alertmanager"


def set_policy(engine: Engine, steps: list[dict[str, Any]]) -> None:
    with Session(engine) as s:
        policy = s.get(EscalationPolicy, "ds-default")
        assert policy is not None
        policy.steps = steps
        s.add(policy)
        s.commit()


def thread_messages(engine: Engine, incident_id: int) -> list[dict[str, Any]]:
    with Session(engine) as s:
        rows = s.exec(
            select(OutboxMessage)
            .where(OutboxMessage.incident_id == incident_id)
            .where(OutboxMessage.kind == "thread_message")
            .order_by(col(OutboxMessage.id))
        )
        return [dict(m.payload) for m in rows]


def escalation_texts(engine: Engine, incident_id: int) -> list[str]:
    with Session(engine) as s:
        rows = s.exec(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .where(IncidentEvent.kind == EventKind.escalated)
            .order_by(col(IncidentEvent.id))
        )
        return [e.text for e in rows]


def open_incident(client: TestClient) -> int:
    body = json.loads((FIXTURES / "batch-failure-firing.json").read_text())
    response = client.post("/api/v1/alerts/alertmanager", json=body)
    assert response.status_code == 200
    incident_id: int = response.json()["incident_id"]
    return incident_id


def test_reminder_person_and_rotation_targets_reach_the_right_people(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    set_policy(
        catalog,
        [
            {"after": "0m", "notify": ["oncall"]},
            {"after": "5m", "notify": ["oncall"]},
            {"after": "10m", "notify": ["person:ana", "rotation:platform-primary"]},
        ],
    )
    incident_id = open_incident(client)
    assignee = client.get(f"/api/v1/incidents/{incident_id}").json()["assignee_id"]
    assert assignee is not None
    assert thread_messages(catalog, incident_id) == []  # the post itself mentions the assignee

    clock.advance(timedelta(minutes=5))
    assert fire_due_escalations(engine=catalog, now=clock()) == 1
    [reminder] = thread_messages(catalog, incident_id)
    assert reminder["text"] == "Still not acknowledged."
    assert reminder["mention"] == [assignee]  # a catalog id, not a Slack user id
    assert reminder["here"] is False

    clock.advance(timedelta(minutes=5))
    assert fire_due_escalations(engine=catalog, now=clock()) == 1
    with Session(catalog) as s:
        platform = on_call_person(session=s, rotation_id="platform-primary", at=clock())
    assert platform in ("ana", "ben")
    _, to_person, to_rotation = thread_messages(catalog, incident_id)
    assert (to_person["text"], to_person["mention"]) == (
        "You are asked to help with this incident.",
        ["ana"],
    )
    assert (to_rotation["text"], to_rotation["mention"]) == (
        "Escalated to rotation platform-primary.",
        [platform],
    )
    texts = escalation_texts(catalog, incident_id)
    assert texts[1] == f"step 2: reminded {assignee}"
    assert texts[2] == f"step 3: notified ana; notified {platform} on call in platform-primary"
    for message in thread_messages(catalog, incident_id):
        assert not any(m.startswith("U0") for m in message["mention"])


def test_an_acknowledged_incident_gets_no_reminder(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    set_policy(
        catalog, [{"after": "0m", "notify": ["oncall"]}, {"after": "5m", "notify": ["oncall"]}]
    )
    incident_id = open_incident(client)
    client.post(f"/api/v1/incidents/{incident_id}/ack", json={"by": "ryan"})
    clock.advance(timedelta(minutes=30))
    assert fire_due_escalations(engine=catalog, now=clock()) == 0
    assert thread_messages(catalog, incident_id) == []


def test_escalate_now_fires_the_next_step_even_when_acknowledged(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    incident_id = open_incident(client)
    client.post(f"/api/v1/incidents/{incident_id}/ack", json={"by": "ryan"})
    response = client.post(f"/api/v1/incidents/{incident_id}/escalate", json={"by": "emily"})
    assert response.status_code == 200
    body = response.json()
    assert body["paged_at"] is not None
    assert body["escalation_step"] == 2
    assert body["escalation_due_at"] is None  # acknowledged: nothing more fires on its own
    timeline = [e for e in body["timeline"] if e["kind"] == "escalated"]
    assert (timeline[-1]["actor"], timeline[-1]["text"]) == ("emily", "step 2: paged PagerDuty")


def test_team_channel_and_pagerduty_targets_fire_on_time_and_show_on_the_timeline(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    set_policy(
        catalog,
        [
            {"after": "0m", "notify": ["oncall"]},
            {"after": "10m", "notify": ["pagerduty"]},
            {"after": "20m", "notify": ["team_channel"]},
        ],
    )
    incident_id = open_incident(client)
    clock.advance(timedelta(minutes=10))
    assert fire_due_escalations(engine=catalog, now=clock()) == 1
    with Session(catalog) as s:
        pages = s.exec(
            select(OutboxMessage)
            .where(OutboxMessage.incident_id == incident_id)
            .where(OutboxMessage.channel == "pagerduty")
        ).all()
    assert [(p.kind, p.payload["dedup_key"]) for p in pages] == [
        ("trigger", f"oncall-{incident_id}")
    ]
    clock.advance(timedelta(minutes=10))
    assert fire_due_escalations(engine=catalog, now=clock()) == 1
    [here] = thread_messages(catalog, incident_id)
    assert (here["here"], here["mention"]) == (True, [])
    assert escalation_texts(catalog, incident_id)[1:] == [
        "step 2: paged PagerDuty",
        "step 3: called the team channel (@here)",
    ]


def test_a_resolved_incident_escalates_no_further_and_cannot_be_escalated(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    set_policy(
        catalog, [{"after": "0m", "notify": ["oncall"]}, {"after": "5m", "notify": ["pagerduty"]}]
    )
    incident_id = open_incident(client)
    client.post(f"/api/v1/incidents/{incident_id}/resolve", json={"by": "emily"})
    clock.advance(timedelta(minutes=30))
    assert fire_due_escalations(engine=catalog, now=clock()) == 0
    refused = client.post(f"/api/v1/incidents/{incident_id}/escalate", json={"by": "emily"})
    assert refused.status_code == 409
    assert "resolved" in refused.json()["detail"]
    assert len(escalation_texts(catalog, incident_id)) == 1  # only the opening step
