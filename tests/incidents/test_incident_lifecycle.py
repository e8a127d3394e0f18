"""Acknowledge, resolve, notes and escalation: through the API, the CLI and the scheduler job."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from helpers import escalation_of, payload
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from oncall.app import create_app
from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.incidents.models import Incident
from oncall.incidents.service import fire_due_escalations
from oncall.outbox import OutboxMessage

URL = "/api/v1/alerts/alertmanager"


def open_batch_incident(client: TestClient) -> int:
    response = client.post(URL, json=payload("batch-failure-firing"))
    assert response.status_code == 200
    incident_id: int = response.json()["incident_id"]
    return incident_id


def tick(engine: Engine, clock: FrozenClock, minutes: int) -> int:
    clock.advance(timedelta(minutes=minutes))
    return fire_due_escalations(engine=engine, now=clock())


def sent(engine: Engine, incident_id: int) -> list[str]:
    with Session(engine) as s:
        rows = s.exec(
            select(OutboxMessage)
            .where(OutboxMessage.incident_id == incident_id)
            .order_by(col(OutboxMessage.id))
        )
        return [
            f"{m.channel}:{m.payload.get('event_action') or m.kind}"
            + (":here" if m.payload.get("here") else "")
            for m in rows
        ]


def test_unacknowledged_incident_escalates_on_time_and_each_step_fires_once(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    incident_id = open_batch_incident(client)
    assert sent(catalog, incident_id) == ["slack:post_incident"]

    assert tick(catalog, clock, 14) == 0
    assert tick(catalog, clock, 1) == 1  # 15 minutes: PagerDuty
    assert sent(catalog, incident_id)[-1] == "pagerduty:trigger"
    # A second scheduler run at the same moment (another replica, a restart) fires nothing.
    assert tick(catalog, clock, 0) == 0
    assert tick(catalog, clock, 15) == 1  # 30 minutes: @here in the team channel
    assert sent(catalog, incident_id) == [
        "slack:post_incident",
        "slack:update_incident",  # the message says it was escalated to PagerDuty
        "pagerduty:trigger",
        "slack:thread_message:here",
    ]
    assert tick(catalog, clock, 60) == 0  # the policy is exhausted

    detail = client.get(f"/api/v1/incidents/{incident_id}").json()
    escalations = [e["text"] for e in detail["timeline"] if e["kind"] == "escalated"]
    assert len(escalations) == 3
    assert "paged PagerDuty" in escalations[1]


def test_a_late_scheduler_fires_every_missed_step_in_order(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    incident_id = open_batch_incident(client)
    # The service was down for 40 minutes: both steps are overdue when it comes back.
    assert tick(catalog, clock, 40) == 2
    assert sent(catalog, incident_id) == [
        "slack:post_incident",
        "slack:update_incident",  # the message says it was escalated to PagerDuty
        "pagerduty:trigger",
        "slack:thread_message:here",
    ]


def test_acknowledging_stops_the_escalation_and_updates_the_message(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    incident_id = open_batch_incident(client)
    clock.advance(timedelta(minutes=3))
    response = client.post(f"/api/v1/incidents/{incident_id}/ack", json={"by": "ryan"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "acknowledged"
    assert body["acknowledged_by"] == "ryan"
    assert body["escalation_due_at"] is None

    assert tick(catalog, clock, 60) == 0
    assert sent(catalog, incident_id) == ["slack:post_incident", "slack:update_incident"]


def test_acknowledging_after_a_page_acknowledges_pagerduty_too(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    incident_id = open_batch_incident(client)
    tick(catalog, clock, 15)
    client.post(f"/api/v1/incidents/{incident_id}/ack")
    client.post(f"/api/v1/incidents/{incident_id}/resolve", json={"note": "re-ran the job"})
    assert sent(catalog, incident_id) == [
        "slack:post_incident",
        "slack:update_incident",
        "pagerduty:trigger",
        "slack:update_incident",
        "pagerduty:acknowledge",
        "slack:update_incident",
        "pagerduty:resolve",
    ]
    detail = client.get(f"/api/v1/incidents/{incident_id}").json()
    assert detail["acknowledged_by"] == "api"
    assert detail["timeline"][-1]["text"] == "resolved by api: re-ran the job"


def test_actions_on_unknown_or_resolved_incidents_are_client_errors(
    client: TestClient, catalog: Engine
) -> None:
    assert client.post("/api/v1/incidents/999/ack").status_code == 404
    assert client.get("/api/v1/incidents/999").status_code == 404
    incident_id = open_batch_incident(client)
    assert (
        client.post(f"/api/v1/incidents/{incident_id}/ack", json={"by": "nobody"}).status_code
        == 422
    )
    client.post(f"/api/v1/incidents/{incident_id}/resolve")
    conflict = client.post(f"/api/v1/incidents/{incident_id}/ack")
    assert conflict.status_code == 409
    assert "resolved" in conflict.json()["detail"]
    assert (
        client.post(f"/api/v1/incidents/{incident_id}/notes", json={"text": ""}).status_code == 422
    )


def test_notes_are_added_to_the_timeline_with_their_author(
    client: TestClient, catalog: Engine
) -> None:
    incident_id = open_batch_incident(client)
    response = client.post(
        f"/api/v1/incidents/{incident_id}/notes",
        json={"by": "emily", "text": "looking at the scorer logs"},
    )
    assert response.status_code == 200
    last = response.json()["timeline"][-1]
    assert (last["kind"], last["actor"], last["text"]) == (
        "note",
        "emily",
        "looking at the scorer logs",
    )


def test_mutations_need_the_webhook_token_when_it_is_set(
    catalog: Engine, clock: FrozenClock
) -> None:
    app = create_app(
        Settings(ONCALL_WEBHOOK_TOKEN="s3cret-token"), engine=catalog, clock=clock, background=False
    )
    auth = {"Authorization": "Bearer s3cret-token"}
    with TestClient(app) as client:
        incident_id = client.post(URL, json=payload("batch-failure-firing"), headers=auth).json()[
            "incident_id"
        ]
        for action in ("ack", "resolve", "escalate"):
            assert client.post(f"/api/v1/incidents/{incident_id}/{action}").status_code == 401
        assert (
            client.post(f"/api/v1/incidents/{incident_id}/notes", json={"text": "x"}).status_code
            == 401
        )
        assert client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "triggered"
        assert client.post(f"/api/v1/incidents/{incident_id}/ack", headers=auth).status_code == 200


def test_manual_escalation_fires_the_next_step_now(client: TestClient, catalog: Engine) -> None:
    incident_id = open_batch_incident(client)
    response = client.post(f"/api/v1/incidents/{incident_id}/escalate", json={"by": "emily"})
    assert response.status_code == 200
    assert sent(catalog, incident_id)[-1] == "pagerduty:trigger"
    client.post(f"/api/v1/incidents/{incident_id}/escalate")
    exhausted = client.post(f"/api/v1/incidents/{incident_id}/escalate")
    assert exhausted.status_code == 409


def test_list_filters_by_status(client: TestClient, catalog: Engine) -> None:
    first = open_batch_incident(client)
    client.post(URL, json=payload("gpu-xid-firing"))
    client.post(f"/api/v1/incidents/{first}/ack")
    acked = client.get("/api/v1/incidents", params={"status": "acknowledged"}).json()
    assert [i["id"] for i in acked] == [first]
    assert len(client.get("/api/v1/incidents").json()) == 2
    assert client.get("/api/v1/incidents", params={"status": "open"}).status_code == 422


def test_reopened_incident_restarts_escalation_from_the_first_step(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    client.post(URL, json=payload("drift-firing"))
    client.post(URL, json=payload("drift-resolved"))
    clock.advance(timedelta(minutes=2))
    client.post(URL, json=payload("drift-refiring"))
    with Session(catalog) as s:
        [incident] = s.exec(select(Incident)).all()
    assert incident.status == "triggered"
    state = escalation_of(catalog, incident.id)
    assert state.next_step == 1  # step 1 (after 0m) fired again at the reopening
    assert state.due_at == clock() + timedelta(minutes=15)


def test_the_actor_can_be_given_in_the_query_string_as_for_rotations(
    client: TestClient, catalog: Engine
) -> None:
    incident_id = open_batch_incident(client)
    response = client.post(f"/api/v1/incidents/{incident_id}/ack", params={"by": "ryan"})
    assert response.status_code == 200
    assert response.json()["acknowledged_by"] == "ryan"
    bad = client.post(f"/api/v1/incidents/{incident_id}/resolve", params={"by": "mallory"})
    assert bad.status_code == 422
    assert client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "acknowledged"


def test_a_refused_delivery_is_shown_on_the_incident(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    from oncall.outbox import Claimed, Handler, PermanentDeliveryError, deliver_due
    from oncall.scheduler import outbox_failure_on_incident

    incident_id = open_batch_incident(client)

    def send(_message: Claimed) -> None:
        raise PermanentDeliveryError("400 channel_not_found")

    refuse = Handler(send=send)
    report = deliver_due(
        engine=catalog,
        handlers={"slack": refuse},
        now=clock,
        on_failure=outbox_failure_on_incident(clock),
    )
    assert report.failed == 1
    detail = client.get(f"/api/v1/incidents/{incident_id}").json()
    assert detail["delivery_error"] == "slack post_incident: 400 channel_not_found"
    assert detail["timeline"][-1]["kind"] == "delivery_failed"
    # The refused row is kept, not retried.
    clock.advance(timedelta(hours=1))
    assert deliver_due(engine=catalog, handlers={"slack": refuse}, now=clock).failed == 0


def test_editing_a_policy_does_not_move_steps_of_an_open_incident(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    from oncall.catalog.models import EscalationPolicy

    incident_id = open_batch_incident(client)
    with Session(catalog) as s:
        policy = s.get(EscalationPolicy, "ds-default")
        assert policy is not None
        policy.steps = [
            {"after": "0m", "notify": ["oncall"]},
            {"after": "5m", "notify": ["team_channel"]},
        ]
        s.add(policy)
        s.commit()

    assert tick(catalog, clock, 6) == 0  # the open incident keeps the policy it started with
    assert tick(catalog, clock, 9) == 1
    assert sent(catalog, incident_id)[-1] == "pagerduty:trigger"
    # A new incident takes the edited policy.
    client.post(f"/api/v1/incidents/{incident_id}/resolve")
    drift = client.post(URL, json=payload("drift-firing")).json()["incident_id"]
    assert tick(catalog, clock, 5) == 1
    assert sent(catalog, drift)[-1] == "slack:thread_message:here"
