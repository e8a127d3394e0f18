"""Hand-offs: when the final schedule (overrides and swaps applied) puts someone else on call,
the team channel is told who is now on call, who was, and which incidents are still open; the
incoming person gets a DM with the same, and the rotation's Slack user group is set to them.

The leader's job compares who is on call now with who was last announced (`rotation_handoffs`)
and announces each change once, in the transaction that records it. The first look at a
rotation records it without a notice (a new deployment does not announce every rotation) but
still sets its user group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from oncall.catalog.models import Rotation, Team
from oncall.catalog.service import list_rotations
from oncall.db import session_scope
from oncall.outbox import Channel, MessageKind, enqueue
from oncall.rotations.models import HandOff
from oncall.rotations.queries import who_is_on_call

INTERVAL_SECONDS = 60

# Open incidents of a rotation, as the notices list them ({"id", "title", "severity"}); given
# by the caller, since the incidents domain builds on rotations and not the other way round.
OpenIncidents = Callable[[Session, str], Sequence[dict[str, Any]]]


def _none(_session: Session, _rotation_id: str) -> Sequence[dict[str, Any]]:
    return []


def announce_handoffs(
    *, session: Session, now: datetime, open_incidents: OpenIncidents = _none
) -> int:
    """Announce every rotation whose person on call changed since its last notice; returns
    how many hand-offs were announced."""
    announced = 0
    for rotation in list_rotations(session=session):
        shift = who_is_on_call(session=session, rotation_id=rotation.id, at=now)
        person = shift.person_id if shift else None
        state = session.get(HandOff, rotation.id)
        if state is not None and state.person_id == person:
            continue
        if state is None:
            state = HandOff(rotation_id=rotation.id, person_id=person, since=now, announced_at=now)
        else:
            handed_off(
                session=session,
                rotation=rotation,
                incoming=person,
                outgoing=state.person_id,
                now=now,
                incidents=open_incidents(session, rotation.id),
            )
            announced += 1
            state.person_id, state.since, state.announced_at = person, now, now
        set_usergroup(session=session, rotation=rotation, person=person, now=now)
        session.add(state)
    session.flush()
    return announced


def handed_off(
    *,
    session: Session,
    rotation: Rotation,
    incoming: str | None,
    outgoing: str | None,
    now: datetime,
    incidents: Sequence[dict[str, Any]],
) -> None:
    """The notices of one hand-off: the team channel, and the incoming person's DM."""
    team = session.get(Team, rotation.team_id)
    about = {
        "topic": "handoff",
        "rotation_id": rotation.id,
        "incoming": incoming,
        "outgoing": outgoing,
        "at": now.isoformat(),
        "incidents": [dict(i) for i in incidents],
    }
    if team is not None and team.slack_channel:
        enqueue(
            session=session,
            channel=Channel.slack,
            kind=MessageKind.channel_notice,
            payload={"channel": team.slack_channel, **about},
            now=now,
        )
    if incoming is not None:
        direct_message(session=session, now=now, person_id=incoming, **about)


def direct_message(*, session: Session, now: datetime, person_id: str, **about: object) -> None:
    """A direct message to a catalog person (`about` says what: its `topic` and values),
    through the outbox in the caller's transaction."""
    enqueue(
        session=session,
        channel=Channel.slack,
        kind=MessageKind.direct_message,
        payload={"person": person_id, **about},
        now=now,
    )


def set_usergroup(
    *, session: Session, rotation: Rotation, person: str | None, now: datetime
) -> None:
    """The rotation's Slack user group holds whoever is on call (unchanged in a gap: Slack
    refuses an empty group)."""
    if rotation.slack_usergroup and person is not None:
        enqueue(
            session=session,
            channel=Channel.slack,
            kind=MessageKind.usergroup_update,
            payload={
                "usergroup": rotation.slack_usergroup,
                "rotation_id": rotation.id,
                "people": [person],
            },
            now=now,
        )


def announce_handoffs_job(
    *, engine: Engine, now: datetime, open_incidents: OpenIncidents = _none
) -> int:
    """The leader's hand-off job: one transaction for every rotation's check."""
    with session_scope(engine) as session:
        return announce_handoffs(session=session, now=now, open_incidents=open_incidents)


def announce_change(
    *, session: Session, rotation_id: str, now: datetime, topic: str, **about: Any
) -> None:
    """A change of who will be on call (an override, an agreed swap), shown in the rotation's
    team channel in the transaction that makes it."""
    rotation = session.get(Rotation, rotation_id)
    team = session.get(Team, rotation.team_id) if rotation else None
    if team is None or not team.slack_channel:
        return
    enqueue(
        session=session,
        channel=Channel.slack,
        kind=MessageKind.channel_notice,
        payload={
            "channel": team.slack_channel,
            "topic": topic,
            "rotation_id": rotation_id,
            **about,
        },
        now=now,
    )
