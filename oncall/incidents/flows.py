"""What an incident change sets off: outbox rows for Slack and PagerDuty, in the caller's
transaction. Payloads carry intent and ids — people are named by their catalog id, never by a
Slack user id or mention syntax — and adapters render from the stored incident when they
deliver, so a late delivery shows the latest state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from oncall import homes
from oncall.catalog.models import Team
from oncall.escalation.service import Step
from oncall.incidents import storms
from oncall.incidents.models import EventKind, IncidentFacts
from oncall.incidents.timeline import add_event
from oncall.outbox import Channel, MessageKind, enqueue
from oncall.rotations.queries import on_call_person


def pagerduty_dedup_key(incident_id: int | None) -> str:
    return f"oncall-{incident_id}"


def team_channel(session: Session, team_id: str | None) -> str | None:
    """The Slack channel incidents of a team are posted in."""
    team = session.get(Team, team_id) if team_id else None
    return team.slack_channel if team else None


def incident_opened(*, session: Session, incident: IncidentFacts, now: datetime) -> None:
    """Post the incident message in its channel (the message mentions the assignee), or,
    in a storm, show the incident on the channel's storm message (`storm` in the payload)."""
    if incident.slack_channel is None:
        incident.slack_channel = team_channel(session, incident.team_id)
    payload: dict[str, object] = {"channel": incident.slack_channel}
    if incident.slack_channel is not None:
        storm_id = storms.gather(
            session=session, incident=incident, channel=incident.slack_channel, now=now
        )
        if storm_id is not None:
            payload["storm"] = storm_id
    enqueue(
        session=session,
        channel=Channel.slack,
        kind=MessageKind.post_incident,
        payload=payload,
        incident_id=incident.id,
        now=now,
    )
    homes.refresh(session=session, people=[incident.assignee_id], now=now)


def incident_changed(
    *, session: Session, incident: IncidentFacts, now: datetime, reason: str
) -> None:
    """Update the incident message in place (chat.update on its stored ts)."""
    enqueue(
        session=session,
        channel=Channel.slack,
        kind=MessageKind.update_incident,
        payload={"channel": incident.slack_channel, "reason": reason},
        incident_id=incident.id,
        now=now,
    )
    # The App Homes that list it: its assignee's and whoever acknowledged it.
    acknowledged_by = getattr(incident, "acknowledged_by", None)
    homes.refresh(session=session, people=[incident.assignee_id, acknowledged_by], now=now)


def thread_message(
    *,
    session: Session,
    incident: IncidentFacts,
    now: datetime,
    text: str,
    mention: Sequence[str] = (),
    here: bool = False,
) -> None:
    """A reply in the incident's thread. `mention` lists person ids (the Slack adapter turns
    them into mentions); bookkeeping replies mention nobody."""
    enqueue(
        session=session,
        channel=Channel.slack,
        kind=MessageKind.thread_message,
        payload={
            "channel": incident.slack_channel,
            "text": text,
            "mention": list(mention),
            "here": here,
        },
        incident_id=incident.id,
        now=now,
    )


def page(
    *, session: Session, incident: IncidentFacts, now: datetime, action: MessageKind, run: int
) -> None:
    """A PagerDuty Events API v2 event; dedup_key is the incident's, so PagerDuty deduplicates.

    The outbox row's own key lets each action through once per escalation run: a race that
    decided to page twice still sends one trigger."""
    enqueue(
        session=session,
        channel=Channel.pagerduty,
        kind=action,
        payload={
            "event_action": str(action),
            "dedup_key": pagerduty_dedup_key(incident.id),
            "run": run,
            "team_id": incident.team_id,
            "summary": incident.title[:1024],
            "severity": incident.severity,
            "source": incident.model_id or incident.labels.get("cluster") or "oncall",
            "component": incident.model_id,
            "group": incident.team_id,
            "class": incident.labels.get("category"),
        },
        incident_id=incident.id,
        dedup_key=f"{pagerduty_dedup_key(incident.id)}:{run}:{action}",
        now=now,
    )


def escalation_fired(
    *,
    session: Session,
    incident: IncidentFacts,
    steps: Sequence[Step],
    now: datetime,
    actor: str,
    opening: bool,
    run: int,
) -> None:
    """What each fired step sets off, and one timeline event per step naming its targets.
    `opening`: the steps due at once when the incident opened or reopened (the incident
    message itself mentions whoever is on call)."""
    for step in steps:
        done: list[str] = []
        for target in step.notify:
            done.append(_notify(session, incident, target, now=now, opening=opening, run=run))
        add_event(
            session=session,
            incident_id=incident.id,
            at=now,
            kind=EventKind.escalated,
            actor=actor,
            text=f"step {step.index + 1}: " + "; ".join(done),
            data={"step": step.index, "notify": list(step.notify)},
        )


def _notify(
    session: Session,
    incident: IncidentFacts,
    target: str,
    *,
    now: datetime,
    opening: bool,
    run: int,
) -> str:
    """Set off one notify target; return what was done, for the timeline."""
    kind, _, ref = target.partition(":")
    if kind == "oncall":
        person = incident.assignee_id or on_call_person(
            session=session, rotation_id=incident.rotation_id, at=now
        )
        if opening:
            return f"mentioned {person or 'nobody (no one on call)'} in the incident message"
        thread_message(
            session=session,
            incident=incident,
            now=now,
            text="Still not acknowledged.",
            mention=[person] if person else [],
        )
        return f"reminded {person or 'nobody (no one on call)'}"
    if kind == "pagerduty":
        if not opening:  # the incident message shows it was escalated (an opening post does)
            incident_changed(session=session, incident=incident, now=now, reason="escalated")
        page(session=session, incident=incident, now=now, action=MessageKind.trigger, run=run)
        return "paged PagerDuty"
    if kind == "team_channel":
        thread_message(
            session=session,
            incident=incident,
            now=now,
            text="Not acknowledged yet: can someone on the team take it?",
            here=True,
        )
        return "called the team channel (@here)"
    if kind == "person":
        thread_message(
            session=session,
            incident=incident,
            now=now,
            text="You are asked to help with this incident.",
            mention=[ref],
        )
        return f"notified {ref}"
    if kind == "rotation":
        person = on_call_person(session=session, rotation_id=ref, at=now)
        thread_message(
            session=session,
            incident=incident,
            now=now,
            text=f"Escalated to rotation {ref}.",
            mention=[person] if person else [],
        )
        return f"notified {person or 'nobody'} on call in {ref}"
    return f"skipped unknown target {target!r}"
