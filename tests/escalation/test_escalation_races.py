"""Escalation against its races: an ack arriving while a page fires, two schedulers at once,
"Escalate now" pressed while the job runs. On SQLite and, where configured, PostgreSQL."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from escalation_helpers import T0
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from oncall.incidents import service
from oncall.incidents.alertmanager import AlertmanagerPayload
from oncall.incidents.ingest import ingest_alertmanager
from oncall.incidents.models import EventKind, IncidentEvent
from oncall.outbox import OutboxMessage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alertmanager"
BATCH = json.loads((FIXTURES / "batch-failure-firing.json").read_text())


def open_incident(engine: Engine, n: int) -> int:
    """A batch-job incident of its own group, on the `ds-default` policy (page at 15 min)."""
    body = copy.deepcopy(BATCH)
    body["groupKey"] = f"{body['groupKey']}-race-{n}"
    with Session(engine) as s:
        result = ingest_alertmanager(
            session=s, payload=AlertmanagerPayload.model_validate(body), now=T0
        )
        s.commit()
    assert result.incident_id is not None
    return result.incident_id


def pagerduty_events(engine: Engine, incident_id: int) -> list[str]:
    with Session(engine) as s:
        rows = s.exec(
            select(OutboxMessage)
            .where(OutboxMessage.incident_id == incident_id)
            .where(OutboxMessage.channel == "pagerduty")
            .order_by(col(OutboxMessage.id))
        )
        return [m.kind for m in rows]


def escalated_steps(engine: Engine, incident_id: int) -> list[int]:
    with Session(engine) as s:
        rows = s.exec(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .where(IncidentEvent.kind == EventKind.escalated)
        )
        return sorted(int(e.data["step"]) for e in rows)


def race(*actions: Callable[[], Any]) -> list[BaseException]:
    """Run the actions in threads released together; return what they raised."""
    barrier = threading.Barrier(len(actions))
    errors: list[BaseException] = []

    def run(action: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            action()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_an_ack_racing_the_page_leaves_pagerduty_with_trigger_then_ack_or_nothing(
    catalog: Engine,
) -> None:
    page_time = T0 + timedelta(minutes=16)
    outcomes = set()
    for n in range(12):
        incident_id = open_incident(catalog, n)

        def ack(incident_id: int = incident_id) -> None:
            with Session(catalog) as s:
                service.acknowledge(session=s, incident_id=incident_id, by="ryan", now=page_time)
                s.commit()

        def job() -> None:
            service.fire_due_escalations(engine=catalog, now=page_time)

        assert race(ack, job) == []
        events = pagerduty_events(catalog, incident_id)
        assert events in ([], ["trigger", "acknowledge"]), events
        outcomes.add(tuple(events))
        assert escalated_steps(catalog, incident_id) in ([0], [0, 1])
    # Whichever won, the rule held; the job runs after the ack here at least sometimes.
    assert outcomes


def test_two_schedulers_at_once_fire_a_step_once(catalog: Engine) -> None:
    page_time = T0 + timedelta(minutes=16)
    ids = [open_incident(catalog, n) for n in range(5)]

    def job() -> None:
        service.fire_due_escalations(engine=catalog, now=page_time)

    assert race(job, job, job) == []
    for incident_id in ids:
        assert pagerduty_events(catalog, incident_id) == ["trigger"]
        assert escalated_steps(catalog, incident_id) == [0, 1]


def test_escalate_now_racing_the_job_fires_each_step_once(catalog: Engine) -> None:
    page_time = T0 + timedelta(minutes=16)
    for n in range(6):
        incident_id = open_incident(catalog, 100 + n)

        def press(incident_id: int = incident_id) -> None:
            with Session(catalog) as s:
                service.escalate(session=s, incident_id=incident_id, by="emily", now=page_time)
                s.commit()

        def job() -> None:
            service.fire_due_escalations(engine=catalog, now=page_time)

        assert race(press, job) == []
        steps = escalated_steps(catalog, incident_id)
        # Step 1 (the page) fired exactly once; the button fired it or the step after it.
        assert steps.count(1) == 1
        assert len(steps) == len(set(steps))
        assert pagerduty_events(catalog, incident_id) == ["trigger"]


def test_a_failing_incident_does_not_hold_back_the_others(catalog: Engine) -> None:
    page_time = T0 + timedelta(minutes=16)
    good = open_incident(catalog, 1)
    bad = open_incident(catalog, 2)
    calls: list[int] = []

    def notify(**kwargs: Any) -> None:
        calls.append(kwargs["incident_id"])
        if kwargs["incident_id"] == bad:
            raise RuntimeError("cannot render this one")
        service.notify_steps(**kwargs)

    from oncall.escalation.scheduled import fire_due_escalations

    fired = fire_due_escalations(engine=catalog, now=page_time, notify=notify)
    assert fired == 1
    assert pagerduty_events(catalog, good) == ["trigger"]
    # The bad one rolled back whole: its step is still due and fires once it can.
    assert pagerduty_events(catalog, bad) == []
    assert fire_due_escalations(engine=catalog, now=page_time, notify=service.notify_steps) == 1
    assert pagerduty_events(catalog, bad) == ["trigger"]
