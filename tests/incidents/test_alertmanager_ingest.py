"""Replaying the real Alertmanager 0.25 payloads through the webhook endpoint."""

from __future__ import annotations

import copy
from datetime import timedelta

from fastapi.testclient import TestClient
from helpers import count, escalation_of, payload
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from oncall.clock import FrozenClock
from oncall.incidents.models import Alert, Incident, IncidentEvent
from oncall.outbox import OutboxMessage

URL = "/api/v1/alerts/alertmanager"


def post(client: TestClient, body: object) -> dict[str, object]:
    response = client.post(URL, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def incidents(engine: Engine) -> list[Incident]:
    with Session(engine) as s:
        return list(s.exec(select(Incident).order_by(col(Incident.id))))


def outbox(engine: Engine, incident_id: int | None = None) -> list[OutboxMessage]:
    with Session(engine) as s:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        if incident_id is not None:
            query = query.where(OutboxMessage.incident_id == incident_id)
        return list(s.exec(query))


def timeline(engine: Engine, incident_id: int) -> list[str]:
    with Session(engine) as s:
        rows = s.exec(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .order_by(col(IncidentEvent.id))
        )
        return [e.kind for e in rows]


def test_drift_alert_opens_one_incident_routed_by_its_model(
    client: TestClient, catalog: Engine
) -> None:
    result = post(client, payload("drift-firing"))

    assert result["outcome"] == "created"
    [incident] = incidents(catalog)
    assert incident.model_id == "churn"
    assert incident.team_id == "growth-ds"
    assert incident.rotation_id == "growth-primary"
    assert incident.escalation_policy_id == "ds-default"
    assert incident.status == "triggered"
    assert incident.severity == "warning"
    assert incident.title == "Drift score 0.9 for model churn"
    assert incident.assignee_id in {"emily", "ryan", "taka"}
    assert incident.slack_channel == "C0GROWTH01"
    assert [m.kind for m in outbox(catalog)] == ["post_incident"]
    assert timeline(catalog, incident.id or 0) == ["triggered", "escalated"]


def test_retry_of_same_alertmanager_payload_creates_no_second_incident(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    post(client, payload("drift-firing"))
    before = (count(catalog, Alert), count(catalog, OutboxMessage), count(catalog, IncidentEvent))
    [opened] = incidents(catalog)

    again = post(client, payload("drift-firing"))
    clock.advance(timedelta(minutes=5))  # Alertmanager's repeat of an unchanged group
    later = post(client, payload("drift-firing"))

    assert again["outcome"] == later["outcome"] == "unchanged"
    [incident] = incidents(catalog)
    assert incident.updated_at == opened.updated_at, "a re-delivery writes nothing"
    assert (
        count(catalog, Alert),
        count(catalog, OutboxMessage),
        count(catalog, IncidentEvent),
    ) == before


def test_incident_auto_resolves_when_the_group_resolves(
    client: TestClient, catalog: Engine
) -> None:
    post(client, payload("drift-firing"))
    result = post(client, payload("drift-resolved"))

    assert result["outcome"] == "resolved"
    [incident] = incidents(catalog)
    assert incident.status == "resolved"
    assert incident.resolved_by == "alertmanager"
    assert incident.open_group_hash is None
    assert escalation_of(catalog, incident.id).due_at is None
    kinds = timeline(catalog, incident.id or 0)
    assert kinds[-2:] == ["alert_resolved", "resolved"]
    assert [m.kind for m in outbox(catalog)] == ["post_incident", "update_incident"]


def test_refiring_within_the_flap_window_reopens_the_incident(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    post(client, payload("drift-firing"))
    post(client, payload("drift-resolved"))
    clock.advance(timedelta(minutes=5))

    result = post(client, payload("drift-refiring"))

    assert result["outcome"] == "reopened"
    [incident] = incidents(catalog)
    assert incident.status == "triggered"
    assert escalation_of(catalog, incident.id).started_at == clock.now
    assert escalation_of(catalog, incident.id).run == 2
    assert "reopened" in timeline(catalog, incident.id or 0)
    with Session(catalog) as s:
        occurrences = s.exec(select(Alert).where(Alert.incident_id == incident.id)).all()
    # Same fingerprint, a new startsAt: a second occurrence of the same alert.
    assert len(occurrences) == 2
    assert {a.fingerprint for a in occurrences} == {"a87a4a25684a7388"}


def test_refiring_after_the_flap_window_opens_a_new_incident(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    post(client, payload("drift-firing"))
    post(client, payload("drift-resolved"))
    clock.advance(timedelta(minutes=11))

    result = post(client, payload("drift-refiring"))

    assert result["outcome"] == "created"
    first, second = incidents(catalog)
    assert first.status == "resolved"
    assert second.status == "triggered"
    assert second.group_key == first.group_key


def test_gpu_alerts_route_by_category_and_page_at_once(client: TestClient, catalog: Engine) -> None:
    post(client, payload("gpu-xid-firing"))

    [incident] = incidents(catalog)
    assert incident.model_id is None
    assert incident.rotation_id == "platform-primary"
    assert incident.escalation_policy_id == "page-now"
    assert incident.severity == "critical"
    assert incident.routing_warning is None
    assert escalation_of(catalog, incident.id).paged_at is not None
    pages = [m for m in outbox(catalog) if m.channel == "pagerduty"]
    assert len(pages) == 1
    assert pages[0].payload["event_action"] == "trigger"
    assert pages[0].payload["dedup_key"] == f"oncall-{incident.id}"
    assert pages[0].payload["severity"] == "critical"


def test_each_alert_status_counts_not_the_top_level_one(
    client: TestClient, catalog: Engine
) -> None:
    post(client, payload("gpu-xid-firing"))
    partly = payload("gpu-xid-partly-resolved")
    assert partly["status"] == "firing"

    post(client, partly)
    [incident] = incidents(catalog)
    assert incident.status == "triggered"
    with Session(catalog) as s:
        states = {a.labels["node"]: a.status for a in s.exec(select(Alert))}
    assert states == {"gpu-node-1": "firing", "gpu-node-2": "resolved", "gpu-node-3": "firing"}

    # The final notification lists only the two alerts still open: state is tracked per alert.
    post(client, payload("gpu-xid-resolved"))
    [incident] = incidents(catalog)
    assert incident.status == "resolved"
    pages = [m.payload["event_action"] for m in outbox(catalog) if m.channel == "pagerduty"]
    assert pages == ["trigger", "resolve"]


def test_truncated_group_does_not_auto_resolve(client: TestClient, catalog: Engine) -> None:
    truncated = payload("truncated")
    post(client, truncated)
    [incident] = incidents(catalog)
    assert incident.truncated_alerts == 3

    all_resolved = copy.deepcopy(truncated)
    all_resolved["status"] = "resolved"
    for alert in all_resolved["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = "2026-11-27T14:00:00Z"
    post(client, all_resolved)
    [incident] = incidents(catalog)
    assert incident.status == "triggered", "alerts we never saw may still fire"

    all_resolved["truncatedAlerts"] = 0
    assert post(client, all_resolved)["outcome"] == "resolved"
    [incident] = incidents(catalog)
    assert incident.status == "resolved"


def test_a_storm_of_200_alerts_is_one_incident_with_every_alert(
    client: TestClient, catalog: Engine
) -> None:
    storm = payload("storm-200")
    post(client, storm)
    post(client, storm)

    [incident] = incidents(catalog)
    assert incident.model_id == "churn"
    with Session(catalog) as s:
        features = {a.labels["feature"] for a in s.exec(select(Alert))}
    assert len(features) == 200
    assert count(catalog, Alert) == 200
    # 200 alerts do not mean 200 Slack posts.
    assert [m.kind for m in outbox(catalog)] == ["post_incident"]


def test_batch_failure_routes_to_the_ltv_model(client: TestClient, catalog: Engine) -> None:
    post(client, payload("batch-failure-firing"))
    [incident] = incidents(catalog)
    assert (incident.model_id, incident.team_id, incident.severity) == (
        "ltv",
        "growth-ds",
        "warning",
    )
    post(client, payload("batch-failure-resolved"))
    assert incidents(catalog)[0].status == "resolved"


def test_hostile_annotations_are_stored_as_data(client: TestClient, catalog: Engine) -> None:
    hostile = payload("unicode-and-injection")
    post(client, hostile)

    [incident] = incidents(catalog)
    # `recsys` is not in the catalog: routed by the catch-all route, with a warning kept.
    assert incident.model_id == "recsys"
    assert incident.rotation_id == "platform-primary"
    assert incident.routing_warning is not None
    assert "recsys" in incident.routing_warning
    with Session(catalog) as s:
        [alert] = s.exec(select(Alert)).all()
    assert alert.annotations == hostile["alerts"][0]["annotations"]
    assert alert.labels["team"] == "データ基盤 🛠"
    shown = client.get(f"/api/v1/incidents/{incident.id}").json()
    assert (
        shown["alerts"][0]["annotations"]["description"]
        == hostile["alerts"][0]["annotations"]["description"]
    )
    assert "routing_warning" in timeline(catalog, incident.id or 0)


def test_the_raw_bytes_alertmanager_sent_are_accepted(client: TestClient, catalog: Engine) -> None:
    from helpers import ALERTMANAGER

    raw = (ALERTMANAGER / "unicode-and-injection.raw.json").read_bytes()
    response = client.post(URL, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.json()["outcome"] == "created"


def test_unknown_fields_from_newer_alertmanagers_are_ignored(
    client: TestClient, catalog: Engine
) -> None:
    body = payload("drift-firing")
    body["someFutureField"] = {"x": 1}
    body["alerts"][0]["silencedBy"] = []
    assert post(client, body)["outcome"] == "created"


def test_alert_firing_again_after_alertmanager_resolved_it_reopens_the_incident(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    """Prometheus paused past the alert's expiry: Alertmanager resolves the alert, then sends it
    firing again with the same fingerprint and startsAt when Prometheus comes back."""
    post(client, payload("drift-firing"))
    timed_out = payload("drift-firing")
    timed_out["status"] = "resolved"
    timed_out["alerts"][0]["status"] = "resolved"
    timed_out["alerts"][0]["endsAt"] = "2026-11-27T13:30:00Z"
    post(client, timed_out)
    assert incidents(catalog)[0].status == "resolved"
    clock.advance(timedelta(minutes=2))

    result = post(client, payload("drift-firing"))

    assert result["outcome"] == "reopened"
    [incident] = incidents(catalog)
    assert incident.status == "triggered"
    with Session(catalog) as s:
        [alert] = s.exec(select(Alert)).all()
    assert (alert.status, alert.ends_at) == ("firing", None)
    # A plain repeat of that firing payload afterwards changes nothing.
    assert post(client, payload("drift-firing"))["outcome"] == "unchanged"


def test_same_alert_firing_again_long_after_opens_a_new_incident(
    client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    post(client, payload("drift-firing"))
    timed_out = payload("drift-firing")
    timed_out["status"] = "resolved"
    timed_out["alerts"][0]["status"] = "resolved"
    post(client, timed_out)
    clock.advance(timedelta(hours=1))

    assert post(client, payload("drift-firing"))["outcome"] == "created"
    first, second = incidents(catalog)
    assert (first.status, second.status) == ("resolved", "triggered")


def test_a_group_key_longer_than_an_index_entry_is_one_incident(
    client: TestClient, catalog: Engine
) -> None:
    """Group keys carry label values; PostgreSQL cannot index a text value of this size."""
    body = payload("drift-firing")
    body["groupKey"] = '{}:{alertname="ModelDriftHigh", note="' + "データ" * 2000 + '"}'
    assert post(client, body)["outcome"] == "created"
    assert post(client, body)["outcome"] == "unchanged"
    [incident] = incidents(catalog)
    assert incident.group_key == body["groupKey"]
