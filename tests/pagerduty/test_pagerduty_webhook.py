"""PagerDuty's v3 webhooks into the real app, signed as PagerDuty signs them: an ack or a
resolve given in PagerDuty's app acts on our incident, with the responder as the actor, the
Slack message updated, and nothing echoed back to PagerDuty. Unsigned or wrongly signed
requests change nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pagerduty_helpers import deliver, fire
from pagerduty_stub import WEBHOOK_SECRET, PagerDutyStub, sign, webhook_body
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from oncall.app import create_app
from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.incidents.service import fire_due_escalations
from oncall.outbox import OutboxMessage

WEBHOOK = "/api/v1/pagerduty/webhook"


def open_and_page(
    client: TestClient, engine: Engine, settings: Settings, clock: FrozenClock
) -> int:
    incident_id = fire(client)
    clock.advance(timedelta(minutes=15))
    assert fire_due_escalations(engine=engine, now=clock()) == 1
    deliver(engine, settings, clock)
    return incident_id


def post(client: TestClient, body: bytes, signature: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-PagerDuty-Signature"] = signature
    return client.post(WEBHOOK, content=body, headers=headers)


def rows(engine: Engine, incident_id: int) -> list[tuple[str, str]]:
    with Session(engine) as s:
        found = s.exec(
            select(OutboxMessage)
            .where(OutboxMessage.incident_id == incident_id)
            .order_by(col(OutboxMessage.id))
        )
        return [(m.channel, m.kind) for m in found]


def test_an_ack_in_pagerduty_acknowledges_here_without_an_echo(
    pd_client: TestClient,
    catalog: Engine,
    pd_settings: Settings,
    clock: FrozenClock,
    stub: PagerDutyStub,
) -> None:
    incident_id = open_and_page(pd_client, catalog, pd_settings, clock)
    before = rows(catalog, incident_id)
    body = webhook_body("incident.acknowledged", f"oncall-{incident_id}", agent="Ryan Curtin")
    answer = post(pd_client, body, sign(body, WEBHOOK_SECRET))
    assert answer.status_code == 200, answer.text

    detail = pd_client.get(f"/api/v1/incidents/{incident_id}").json()
    assert detail["status"] == "acknowledged"
    assert detail["acknowledged_by"] == "pagerduty: Ryan Curtin"
    acked = [e for e in detail["timeline"] if e["kind"] == "acknowledged"]
    assert [e["actor"] for e in acked] == ["pagerduty: Ryan Curtin"]
    added = rows(catalog, incident_id)[len(before) :]
    assert ("slack", "update_incident") in added  # the Slack message shows the ack
    assert not [r for r in added if r[0] == "pagerduty"]  # not echoed back
    deliver(catalog, pd_settings, clock)
    assert [r.action for r in stub.received] == ["trigger"]

    clock.advance(timedelta(hours=1))  # the escalation stopped: no @here step follows
    assert fire_due_escalations(engine=catalog, now=clock()) == 0


def test_a_resolve_in_pagerduty_resolves_here_without_an_echo(
    pd_client: TestClient,
    catalog: Engine,
    pd_settings: Settings,
    clock: FrozenClock,
    stub: PagerDutyStub,
) -> None:
    incident_id = open_and_page(pd_client, catalog, pd_settings, clock)
    body = webhook_body("incident.resolved", f"oncall-{incident_id}", agent="Ana Lima")
    assert post(pd_client, body, sign(body, WEBHOOK_SECRET)).status_code == 200
    detail = pd_client.get(f"/api/v1/incidents/{incident_id}").json()
    assert (detail["status"], detail["resolved_by"]) == ("resolved", "pagerduty: Ana Lima")
    assert ("pagerduty", "resolve") not in rows(catalog, incident_id)
    # PagerDuty retries a webhook it is unsure about: the repeat changes nothing.
    again = post(pd_client, body, sign(body, WEBHOOK_SECRET))
    assert again.status_code == 200 and again.json()["outcome"].startswith("ignored")


def test_unsigned_and_wrongly_signed_webhooks_are_refused_and_change_nothing(
    pd_client: TestClient, catalog: Engine, pd_settings: Settings, clock: FrozenClock
) -> None:
    incident_id = open_and_page(pd_client, catalog, pd_settings, clock)
    body = webhook_body("incident.acknowledged", f"oncall-{incident_id}")
    other = webhook_body("incident.resolved", f"oncall-{incident_id}")
    for signature in (
        None,
        "",
        sign(body, "another-secret"),
        sign(other, WEBHOOK_SECRET),  # a signature of another body
        sign(body, WEBHOOK_SECRET).replace("v1=", "v0="),
        "v1=zz",
    ):
        answer = post(pd_client, body, signature)
        assert answer.status_code == 401, (signature, answer.text)
        assert "X-PagerDuty-Signature" in answer.json()["detail"]
    assert pd_client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "triggered"


def test_one_valid_signature_among_several_passes(
    pd_client: TestClient, catalog: Engine, pd_settings: Settings, clock: FrozenClock
) -> None:
    incident_id = open_and_page(pd_client, catalog, pd_settings, clock)
    body = webhook_body("incident.acknowledged", f"oncall-{incident_id}")
    header = f"{sign(body, 'the-old-secret')}, {sign(body, WEBHOOK_SECRET)}"
    assert post(pd_client, body, header).status_code == 200
    assert pd_client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "acknowledged"


def test_unknown_keys_and_other_event_types_are_answered_and_change_nothing(
    pd_client: TestClient, catalog: Engine, pd_settings: Settings, clock: FrozenClock
) -> None:
    incident_id = open_and_page(pd_client, catalog, pd_settings, clock)
    for body in (
        webhook_body("incident.acknowledged", "d3640fbd41094207a1c11e58e46b1662"),
        webhook_body("incident.acknowledged", "oncall-999999"),
        webhook_body("incident.annotated", f"oncall-{incident_id}"),
        webhook_body("incident.reassigned", f"oncall-{incident_id}"),
    ):
        answer = post(pd_client, body, sign(body, WEBHOOK_SECRET))
        assert answer.status_code == 200
        assert answer.json()["outcome"].startswith("ignored")
    assert pd_client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "triggered"


def test_malformed_json_is_a_400_with_a_reason(pd_client: TestClient) -> None:
    for body in (b"{not json", b"[1, 2]", b'{"messages": []}'):
        answer = post(pd_client, body, sign(body, WEBHOOK_SECRET))
        assert answer.status_code == 400
        assert answer.json()["detail"]


def test_without_a_secret_the_webhook_answers_503_saying_what_to_set(
    catalog: Engine, clock: FrozenClock
) -> None:
    settings = Settings(ONCALL_DATABASE_URL="sqlite://")
    with TestClient(create_app(settings, engine=catalog, clock=clock, background=False)) as c:
        body = webhook_body("incident.acknowledged", "oncall-1")
        answer = post(c, body, sign(body, WEBHOOK_SECRET))
    assert answer.status_code == 503
    assert "PAGERDUTY_WEBHOOK_SECRET" in answer.json()["detail"]


def test_a_placeholder_webhook_secret_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(PAGERDUTY_WEBHOOK_SECRET="changeme")  # type: ignore[call-arg]
