"""Pages reach PagerDuty's Events API v2 (a local HTTPS stub that checks events as PagerDuty
does): after the policy's delay, acknowledged and resolved with the same dedup_key, never
after an ack, retried after 500 and 429, refused for good on 400 with PagerDuty's words on
the incident, and never held up by a Slack outage."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pagerduty_helpers import ALERTMANAGER, deliver, fire, pagerduty_rows, stub_settings
from pagerduty_stub import ROUTING_KEY, PagerDutyStub
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from oncall import outbox
from oncall.app import create_app
from oncall.catalog.models import EscalationPolicy, Team
from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.incidents.models import EventKind, Incident, IncidentEvent
from oncall.incidents.service import fire_due_escalations
from oncall.integrations.delivery import build_handlers
from oncall.outbox import OutboxMessage


def set_policy(engine: Engine, policy_id: str, steps: list[dict[str, Any]]) -> None:
    with Session(engine) as s:
        policy = s.get(EscalationPolicy, policy_id)
        assert policy is not None
        policy.steps = steps
        s.add(policy)
        s.commit()


def test_the_trigger_goes_out_after_the_policy_delay_with_the_incident_in_it(
    pd_client: TestClient,
    catalog: Engine,
    pd_settings: Settings,
    clock: FrozenClock,
    stub: PagerDutyStub,
) -> None:
    from oncall.readiness.service import take_snapshot

    with Session(catalog) as s:
        ltv = take_snapshot(s, "ltv", now=clock())
        s.commit()
    incident_id = fire(pd_client)  # ltv: ds-default pages after 15 minutes
    deliver(catalog, pd_settings, clock)
    clock.advance(timedelta(minutes=14, seconds=59))
    fire_due_escalations(engine=catalog, now=clock())
    deliver(catalog, pd_settings, clock)
    assert stub.received == []

    clock.advance(timedelta(seconds=1))
    assert fire_due_escalations(engine=catalog, now=clock()) == 1
    deliver(catalog, pd_settings, clock)
    [page] = stub.received
    event = page.event
    assert page.status == 202
    assert (event["event_action"], event["dedup_key"]) == ("trigger", f"oncall-{incident_id}")
    assert event["routing_key"] == ROUTING_KEY
    payload = event["payload"]
    assert payload["severity"] in ("critical", "error", "warning", "info")
    assert payload["component"] == "ltv"
    assert payload["group"] == "growth-ds"
    assert payload["source"] == "ltv"
    assert "ltv" in payload["summary"].lower()
    assert payload["custom_details"]["alert_count"] >= 1
    assert payload["custom_details"]["on_call"] is not None
    # The model's readiness at the time, so the responder sees how ready it was.
    prs = payload["custom_details"]["prs"]
    assert ltv.percent is not None and prs["percent"] == round(ltv.percent)
    assert prs["top_gaps"][0] == f"{ltv.gaps()[0].title} ({ltv.gaps()[0].status})"
    hrefs = [link["href"] for link in event["links"]]
    assert f"https://oncall.example.com/incidents/{incident_id}" in hrefs
    assert all(h.startswith(("http://", "https://")) for h in hrefs)
    assert "https://runbooks.example.com/batch/ltv-nightly-scoring" in hrefs
    [row] = pagerduty_rows(catalog)
    assert row.delivered_via == "pagerduty"


def test_ack_and_resolve_follow_the_trigger_with_the_same_dedup_key(
    pd_client: TestClient,
    catalog: Engine,
    pd_settings: Settings,
    clock: FrozenClock,
    stub: PagerDutyStub,
) -> None:
    incident_id = fire(pd_client)
    clock.advance(timedelta(minutes=15))
    fire_due_escalations(engine=catalog, now=clock())
    pd_client.post(f"/api/v1/incidents/{incident_id}/ack", json={"by": "ryan"})
    pd_client.post(f"/api/v1/incidents/{incident_id}/resolve", json={"by": "ryan"})
    deliver(catalog, pd_settings, clock)
    assert [(r.action, r.dedup_key, r.status) for r in stub.received] == [
        ("trigger", f"oncall-{incident_id}", 202),
        ("acknowledge", f"oncall-{incident_id}", 202),
        ("resolve", f"oncall-{incident_id}", 202),
    ]


def test_an_incident_acknowledged_before_its_page_never_reaches_pagerduty(
    pd_client: TestClient,
    catalog: Engine,
    pd_settings: Settings,
    clock: FrozenClock,
    stub: PagerDutyStub,
) -> None:
    incident_id = fire(pd_client)
    clock.advance(timedelta(minutes=5))
    pd_client.post(f"/api/v1/incidents/{incident_id}/ack", json={"by": "ryan"})
    for _ in range(3):
        clock.advance(timedelta(minutes=20))
        fire_due_escalations(engine=catalog, now=clock())
        deliver(catalog, pd_settings, clock)
    pd_client.post(f"/api/v1/incidents/{incident_id}/resolve", json={"by": "ryan"})
    deliver(catalog, pd_settings, clock)
    assert stub.received == []
    assert pagerduty_rows(catalog) == []


def test_a_500_and_a_429_are_retried_and_retry_after_is_honoured(
    pd_client: TestClient,
    catalog: Engine,
    pd_settings: Settings,
    clock: FrozenClock,
    stub: PagerDutyStub,
) -> None:
    set_policy(catalog, "ds-default", [{"after": "0m", "notify": ["oncall", "pagerduty"]}])
    stub.answer_next(500)
    stub.answer_next(429, {"Retry-After": "60"})
    fire(pd_client)
    report = deliver(catalog, pd_settings, clock)
    assert report.retried == 1
    assert [r.status for r in stub.received] == [500]  # one attempt: the client did not retry

    clock.advance(timedelta(seconds=7))  # past the first backoff (5 s + jitter)
    deliver(catalog, pd_settings, clock)
    assert [r.status for r in stub.received] == [500, 429]  # not retried inside the client
    clock.advance(timedelta(seconds=40))  # the backoff alone would allow it; Retry-After not
    deliver(catalog, pd_settings, clock)
    assert [r.status for r in stub.received] == [500, 429]
    clock.advance(timedelta(seconds=21))
    deliver(catalog, pd_settings, clock)
    assert [r.status for r in stub.received] == [500, 429, 202]
    [row] = pagerduty_rows(catalog)
    assert (row.attempts, row.delivered_via, row.failed_at) == (3, "pagerduty", None)


def test_a_400_is_recorded_on_the_incident_with_pagerdutys_words_and_not_retried(
    catalog: Engine, clock: FrozenClock, stub: PagerDutyStub
) -> None:
    settings = stub_settings(stub, PAGERDUTY_ROUTING_KEY="too-short-for-pagerduty")
    set_policy(catalog, "ds-default", [{"after": "0m", "notify": ["oncall", "pagerduty"]}])
    with TestClient(create_app(settings, engine=catalog, clock=clock, background=False)) as c:
        incident_id = fire(c)
        report = deliver(catalog, settings, clock)
        assert report.failed == 1
        for _ in range(5):
            clock.advance(timedelta(minutes=30))
            deliver(catalog, settings, clock)
        assert [r.status for r in stub.received] == [400]
        detail = c.get(f"/api/v1/incidents/{incident_id}").json()
    assert "routing_key" in detail["delivery_error"]
    assert "should be 32 characters" in detail["delivery_error"]
    failed = [e for e in detail["timeline"] if e["kind"] == EventKind.delivery_failed]
    assert len(failed) == 1 and "PagerDuty refused the event (400)" in failed[0]["text"]


def test_a_slack_outage_does_not_delay_a_page(
    pd_client: TestClient,
    catalog: Engine,
    clock: FrozenClock,
    stub: PagerDutyStub,
    httpserver: HTTPServer,
) -> None:
    # Slack's Web API is down: every call answers 503. The service's own Slack handler is on.
    httpserver.expect_request(re.compile(r"/.*")).respond_with_data(
        "upstream unavailable", status=503
    )
    settings = stub_settings(
        stub, SLACK_BOT_TOKEN="xoxb-test-0001", ONCALL_SLACK_API_URL=httpserver.url_for("/")
    )
    handlers = build_handlers(settings, engine=catalog, clock=clock)
    worker = outbox.Worker(engine=catalog, handlers=handlers, now=clock, name="w", poll_seconds=0.2)
    worker.start()
    try:
        set_policy(catalog, "ds-default", [{"after": "0m", "notify": ["oncall", "pagerduty"]}])
        incident_id = fire(pd_client)
        stub.wait_for(1, timeout=10)
    finally:
        worker.stop()
    assert stub.accepted()[0].dedup_key == f"oncall-{incident_id}"
    assert any("chat.postMessage" in str(request.path) for request, _ in httpserver.log)
    with Session(catalog) as s:
        slack = s.exec(select(OutboxMessage).where(OutboxMessage.channel == "slack")).all()
    assert slack and all(m.delivered_at is None for m in slack)
    assert any(m.attempts >= 1 and "503" in (m.last_error or "") for m in slack)


def test_routing_keys_per_team_literal_or_environment_never_stored_or_logged(
    catalog: Engine,
    clock: FrozenClock,
    stub: PagerDutyStub,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    growth_key = "GROWTHKEY" + "0" * 23
    monkeypatch.setenv("PD_KEY_GROWTH", growth_key)
    with Session(catalog) as s:
        growth = s.get(Team, "growth-ds")
        assert growth is not None
        growth.pagerduty_routing_key = "${PD_KEY_GROWTH}"
        s.add(growth)
        s.commit()
    set_policy(catalog, "ds-default", [{"after": "0m", "notify": ["oncall", "pagerduty"]}])
    # No PAGERDUTY_ROUTING_KEY: ml-platform (GPU incidents, page-now) has no key at all.
    settings = stub_settings(stub, PAGERDUTY_ROUTING_KEY="")
    lines: list[str] = []
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(settings, engine=catalog, clock=clock, background=False)) as c:
        ltv = fire(c, "batch-failure-firing")
        gpu = fire(c, "gpu-xid-firing")
        outbox.deliver_due(
            engine=catalog,
            handlers=build_handlers(settings, engine=catalog, printer=lines.append),
            now=clock,
        )
    assert [(r.dedup_key, r.event["routing_key"]) for r in stub.received] == [
        (f"oncall-{ltv}", growth_key)
    ]
    assert any(
        f"dedup_key=oncall-{gpu}" in line and "team ml-platform has no routing key" in line
        for line in lines
    )
    rows = pagerduty_rows(catalog)
    assert {r.delivered_via for r in rows} == {"pagerduty", "console"}
    stored = json.dumps([[r.payload, r.result] for r in rows])
    assert growth_key not in stored and growth_key not in caplog.text
    assert growth_key not in "\n".join(lines)


def test_a_reopened_incident_triggers_pagerduty_again(
    pd_client: TestClient,
    catalog: Engine,
    pd_settings: Settings,
    clock: FrozenClock,
    stub: PagerDutyStub,
) -> None:
    set_policy(catalog, "ds-default", [{"after": "0m", "notify": ["oncall", "pagerduty"]}])
    incident_id = fire(pd_client)
    deliver(catalog, pd_settings, clock)
    clock.advance(timedelta(minutes=2))
    fire(pd_client, "batch-failure-resolved")
    deliver(catalog, pd_settings, clock)
    clock.advance(timedelta(minutes=2))
    assert fire(pd_client) == incident_id  # within the flap window: the same incident reopens
    deliver(catalog, pd_settings, clock)
    assert [(r.action, r.dedup_key) for r in stub.received] == [
        ("trigger", f"oncall-{incident_id}"),
        ("resolve", f"oncall-{incident_id}"),
        ("trigger", f"oncall-{incident_id}"),
    ]
    with Session(catalog) as s:
        incident = s.get(Incident, incident_id)
        assert incident is not None and incident.status == "triggered"
        kinds = s.exec(
            select(IncidentEvent.kind).where(IncidentEvent.incident_id == incident_id)
        ).all()
    assert EventKind.reopened in kinds


def test_pagerduty_unreachable_is_retried_later(
    catalog: Engine, clock: FrozenClock, stub: PagerDutyStub
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    settings = stub_settings(stub, ONCALL_PAGERDUTY_EVENTS_URL=f"https://127.0.0.1:{closed}")
    set_policy(catalog, "ds-default", [{"after": "0m", "notify": ["oncall", "pagerduty"]}])
    with TestClient(create_app(settings, engine=catalog, clock=clock, background=False)) as c:
        fire(c)
        report = deliver(catalog, settings, clock)
    assert report.retried == 1
    [row] = pagerduty_rows(catalog)
    assert row.delivered_at is None and row.failed_at is None
    assert row.last_error is not None and "PagerDuty unreachable" in row.last_error
    assert row.next_attempt_at > clock()


@pytest.mark.parametrize(
    ("runbook", "expected"),
    [
        ("javascript:alert(document.domain)//https://runbooks.example.com/", None),
        ("runbooks/batch-failure.md", "https://oncall.example.com/runbooks/batch-failure.md"),
    ],
)
def test_runbook_links_keep_only_http_and_https(
    pd_client: TestClient,
    catalog: Engine,
    pd_settings: Settings,
    clock: FrozenClock,
    stub: PagerDutyStub,
    runbook: str,
    expected: str | None,
) -> None:
    set_policy(catalog, "ds-default", [{"after": "0m", "notify": ["oncall", "pagerduty"]}])
    body = json.loads((ALERTMANAGER / "batch-failure-firing.json").read_text())
    for alert in body["alerts"]:
        alert["annotations"]["runbook_url"] = runbook
    assert pd_client.post("/api/v1/alerts/alertmanager", json=body).status_code == 200
    deliver(catalog, pd_settings, clock)
    [page] = stub.accepted()
    hrefs = [link["href"] for link in page.event["links"]]
    assert not any("javascript" in h for h in hrefs)
    assert page.event["payload"]["custom_details"]["runbook"] == expected
    if expected:
        assert expected in hrefs
