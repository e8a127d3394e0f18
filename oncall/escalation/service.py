"""Escalation: fire a policy's steps when they fall due, each exactly once.

The incident stores the index of its next step and when it is due. A step fires only while
the incident is still `triggered` and its counter still points at that step, so a restart, a
second replica or a late scheduler tick can never fire a step twice (and never skips one).
`after` counts from when the incident triggered or last reopened.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from oncall.catalog.models import EscalationPolicy, Person
from oncall.incidents import flows
from oncall.incidents.models import EventKind, Incident, IncidentStatus
from oncall.incidents.timeline import add_event
from oncall.rotations.service import on_call_person
from oncall.rotations.spec import parse_duration

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    index: int
    after: timedelta
    notify: tuple[str, ...]


def steps_of(raw: list[dict[str, Any]]) -> list[Step]:
    return [
        Step(index=i, after=parse_duration(str(s["after"])), notify=tuple(s["notify"]))
        for i, s in enumerate(raw)
    ]


def _steps(incident: Incident) -> list[Step]:
    """The steps frozen on the incident when its clock (re)started: an edit of the policy in
    oncall.yaml changes incidents opened after it, never one half-way through escalating."""
    if incident.escalation_steps is not None:
        return steps_of(incident.escalation_steps)
    return []


def begin(
    *,
    session: Session,
    incident: Incident,
    now: datetime,
    policy_steps: Iterable[Mapping[str, Any]] | None = None,
) -> list[Step]:
    """(Re)start the clock at step 0 with the policy as it is now; return the steps due at once
    (`after: 0m`), to be recorded with `record` once the incident has its id. `policy_steps`
    are the policy's steps when the caller has read them already."""
    if policy_steps is None:
        policy = (
            session.get(EscalationPolicy, incident.escalation_policy_id)
            if incident.escalation_policy_id
            else None
        )
        policy_steps = policy.steps if policy else []
    incident.escalation_steps = [dict(step) for step in policy_steps]
    incident.escalation_started_at = now
    incident.escalation_step = 0
    return due_steps(session=session, incident=incident, now=now)


def start(*, session: Session, incident: Incident, now: datetime) -> None:
    """(Re)start the clock and fire whatever is due right away."""
    record(
        session=session,
        incident=incident,
        steps=begin(session=session, incident=incident, now=now),
        now=now,
        opening=True,
    )


def stop(incident: Incident) -> None:
    incident.escalation_due_at = None


def due_steps(*, session: Session, incident: Incident, now: datetime) -> list[Step]:
    """Move the incident's escalation state past every step due at `now`; return those steps.

    Deciding is separate from recording: the state lands in the same row write as the
    incident, and `record` writes what the steps set off."""
    steps = _steps(incident)
    fired: list[Step] = []
    while (
        incident.status == IncidentStatus.triggered
        and incident.escalation_step < len(steps)
        and incident.escalation_started_at + steps[incident.escalation_step].after <= now
    ):
        step = steps[incident.escalation_step]
        _note_page(incident, step, now)
        incident.escalation_step += 1
        fired.append(step)
    _schedule_next(incident, steps)
    return fired


def record(
    *,
    session: Session,
    incident: Incident,
    steps: list[Step],
    now: datetime,
    opening: bool = False,
    actor: str = "escalation",
) -> None:
    """Write the timeline and outbox rows of fired steps (the incident needs its id)."""
    for step in steps:
        _fire(session=session, incident=incident, step=step, now=now, opening=opening, actor=actor)


def fire_due(*, session: Session, incident: Incident, now: datetime) -> list[Step]:
    """Fire every step that is due at `now`, in order; return them."""
    fired = due_steps(session=session, incident=incident, now=now)
    record(session=session, incident=incident, steps=fired, now=now)
    return fired


def escalate_now(*, session: Session, incident: Incident, now: datetime, actor: str) -> Step | None:
    """Fire the next step at once (a person asked for more help); None if none is left."""
    steps = _steps(incident)
    if incident.escalation_step >= len(steps):
        return None
    step = steps[incident.escalation_step]
    _note_page(incident, step, now)
    incident.escalation_step += 1
    _schedule_next(incident, steps)
    record(session=session, incident=incident, steps=[step], now=now, actor=actor)
    return step


def _note_page(incident: Incident, step: Step, now: datetime) -> None:
    if "pagerduty" in step.notify:
        incident.paged_at = incident.paged_at or now


def _schedule_next(incident: Incident, steps: list[Step]) -> None:
    if incident.status != IncidentStatus.triggered or incident.escalation_step >= len(steps):
        incident.escalation_due_at = None
    else:
        incident.escalation_due_at = (
            incident.escalation_started_at + steps[incident.escalation_step].after
        )


def _slack_users(session: Session, person_ids: list[str]) -> list[str]:
    out = []
    for person_id in person_ids:
        person = session.get(Person, person_id)
        out.append(person.slack_user if person and person.slack_user else person_id)
    return out


def _fire(
    *, session: Session, incident: Incident, step: Step, now: datetime, opening: bool, actor: str
) -> None:
    done: list[str] = []
    for target in step.notify:
        kind, _, ref = target.partition(":")
        if kind == "oncall":
            person = incident.assignee_id or on_call_person(
                session=session, rotation_id=incident.rotation_id, at=now
            )
            if opening:
                done.append(
                    f"mentioned {person or 'nobody (no one on call)'} in the incident message"
                )
            else:
                flows.thread_message(
                    session=session,
                    incident=incident,
                    now=now,
                    text="Still not acknowledged.",
                    mention=_slack_users(session, [person] if person else []),
                )
                done.append(f"reminded {person or 'nobody (no one on call)'}")
        elif kind == "pagerduty":
            flows.page(session=session, incident=incident, now=now, action="trigger")
            done.append("paged PagerDuty")
        elif kind == "team_channel":
            flows.thread_message(
                session=session,
                incident=incident,
                now=now,
                text="Not acknowledged yet: can someone on the team take it?",
                here=True,
            )
            done.append("called the team channel (@here)")
        elif kind == "person":
            flows.thread_message(
                session=session,
                incident=incident,
                now=now,
                text="You are asked to help with this incident.",
                mention=_slack_users(session, [ref]),
            )
            done.append(f"notified {ref}")
        elif kind == "rotation":
            person = on_call_person(session=session, rotation_id=ref, at=now)
            flows.thread_message(
                session=session,
                incident=incident,
                now=now,
                text=f"Escalated to rotation {ref}.",
                mention=_slack_users(session, [person] if person else []),
            )
            done.append(f"notified {person or 'nobody'} on call in {ref}")
    add_event(
        session=session,
        incident_id=incident.id,
        at=now,
        kind=EventKind.escalated,
        actor=actor,
        text=f"step {step.index + 1}: " + "; ".join(done),
        data={"step": step.index, "notify": list(step.notify)},
    )


def due_incident_ids(*, session: Session, now: datetime, limit: int = 500) -> list[int]:
    rows = session.exec(
        select(Incident.id)
        .where(Incident.status == IncidentStatus.triggered)
        .where(col(Incident.escalation_due_at).is_not(None))
        .where(col(Incident.escalation_due_at) <= now)
        .order_by(col(Incident.escalation_due_at))
        .limit(limit)
    ).all()
    return [r for r in rows if r is not None]
