"""Escalation: an incident's policy steps, each fired exactly once when it falls due.

This package owns the state (`Escalation`) and decides which steps fire; what a step sets off
(a Slack reminder, a PagerDuty page, @here) is the incidents domain's, handed in as a `Notify`
callback. Incidents call this module; this module never imports them.

Every change is a conditional UPDATE of the escalation row: it names the `next_step` it read
(and, for the scheduler, that the clock still runs), so the database lets exactly one of two
racing callers through — two schedulers, a restart, a person pressing "Escalate now", or an
ack arriving while a page is being fired. On PostgreSQL the UPDATE waits for the other's row
lock and re-checks; on SQLite writers are serialised and the first write reads fresh state.
`after` counts from when the incident triggered or last reopened.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Table, func, update
from sqlmodel import Session, col, select

from oncall.db import RowInserter
from oncall.escalation.models import Escalation, EscalationPolicy
from oncall.rotations.spec import parse_duration

log = logging.getLogger(__name__)

ESCALATIONS: Table = Escalation.__table__  # type: ignore[attr-defined]
_INSERT = RowInserter(ESCALATIONS)


@dataclass(frozen=True)
class Step:
    index: int
    after: timedelta
    notify: tuple[str, ...]

    @property
    def pages(self) -> bool:
        return "pagerduty" in self.notify


class Notify(Protocol):
    """What fired steps set off, written in the caller's transaction (the incidents domain)."""

    def __call__(
        self,
        *,
        session: Session,
        incident_id: int,
        steps: Sequence[Step],
        now: datetime,
        actor: str,
        opening: bool,
    ) -> None: ...


@dataclass(frozen=True)
class Stopped:
    """The escalation of an incident after an ack or a resolve stopped it."""

    run: int
    paged: bool  # PagerDuty was triggered in this run: it must hear of the ack or resolve


def steps_of(raw: Iterable[Mapping[str, Any]]) -> list[Step]:
    return [
        Step(index=i, after=parse_duration(str(s["after"])), notify=tuple(s["notify"]))
        for i, s in enumerate(raw)
    ]


def _due_at(steps: Sequence[Step], started_at: datetime, next_step: int) -> datetime | None:
    return started_at + steps[next_step].after if next_step < len(steps) else None


def _due_now(steps: Sequence[Step], started_at: datetime, first: int, now: datetime) -> int:
    """The index after the last step due at `now`, starting from `first`."""
    index = first
    while index < len(steps) and started_at + steps[index].after <= now:
        index += 1
    return index


def policy_steps(*, session: Session, policy_id: str | None) -> list[dict[str, Any]]:
    policy = session.get(EscalationPolicy, policy_id) if policy_id else None
    return [dict(step) for step in policy.steps] if policy else []


def _clock_start(
    raw: list[dict[str, Any]], policy_id: str | None, now: datetime
) -> tuple[dict[str, Any], list[Step]]:
    """The row values of a clock started at `now` at step 0, past the steps due at once; and
    those steps (counted as fired: the caller notifies for them in its transaction)."""
    parsed = steps_of(raw)
    fired = _due_now(parsed, now, 0, now)
    values = {
        "policy_id": policy_id,
        "steps": raw,
        "started_at": now,
        "next_step": fired,
        "due_at": _due_at(parsed, now, fired),
        "stopped_at": None,
        "paged_at": now if any(s.pages for s in parsed[:fired]) else None,
    }
    return values, parsed[:fired]


def begin(
    *,
    session: Session,
    incident_id: int,
    policy_id: str | None,
    now: datetime,
    steps: Iterable[Mapping[str, Any]] | None = None,
) -> list[Step]:
    """Start the clock of a new incident at step 0 with its policy as it is now (`steps` when
    the caller has read them already); returns the steps due at once (`after: 0m`)."""
    raw = (
        [dict(s) for s in steps]
        if steps is not None
        else policy_steps(session=session, policy_id=policy_id)
    )
    values, fired = _clock_start(raw, policy_id, now)
    _INSERT(session.connection(), {"incident_id": incident_id, "run": 1, **values})
    return fired


def restart(
    *, session: Session, incident_id: int, policy_id: str | None, now: datetime
) -> list[Step]:
    """A reopened incident escalates again from the first step, with the policy as it is now
    and a new run (PagerDuty is triggered afresh); returns the steps due at once."""
    values, fired = _clock_start(policy_steps(session=session, policy_id=policy_id), policy_id, now)
    changed = session.connection().execute(
        update(ESCALATIONS)
        .where(ESCALATIONS.c.incident_id == incident_id)
        .values(run=ESCALATIONS.c.run + 1, **values)
    )
    if not changed.rowcount:
        _INSERT(session.connection(), {"incident_id": incident_id, "run": 1, **values})
    return fired


def stop(*, session: Session, incident_id: int, now: datetime) -> Stopped:
    """No further step fires on its own (ack, resolve). Returns whether this run paged, read
    after the UPDATE so that a page committed by a racing scheduler is seen."""
    row = (
        session.connection()
        .execute(
            update(ESCALATIONS)
            .where(ESCALATIONS.c.incident_id == incident_id)
            .values(due_at=None, stopped_at=now)
            .returning(ESCALATIONS.c.run, ESCALATIONS.c.paged_at)
        )
        .first()
    )
    if row is None:
        return Stopped(run=0, paged=False)
    return Stopped(run=row.run, paged=row.paged_at is not None)


def _advance(
    session: Session, state: Escalation, to: int, now: datetime, *, require_running: bool
) -> bool:
    """Move `next_step` from what `state` read to `to`, if nobody moved it meanwhile."""
    steps = steps_of(state.steps)
    fired = steps[state.next_step : to]
    running = state.due_at is not None
    values: dict[str, Any] = {
        "next_step": to,
        "due_at": _due_at(steps, state.started_at, to) if running else None,
    }
    if any(step.pages for step in fired):
        values["paged_at"] = func.coalesce(ESCALATIONS.c.paged_at, now)
    statement = (
        update(ESCALATIONS)
        .where(ESCALATIONS.c.incident_id == state.incident_id)
        .where(ESCALATIONS.c.next_step == state.next_step)
        .where(ESCALATIONS.c.run == state.run)
        .values(**values)
    )
    if require_running:
        statement = statement.where(ESCALATIONS.c.due_at.is_not(None))
    return bool(session.connection().execute(statement).rowcount)


def _read(session: Session, incident_id: int) -> Escalation | None:
    return session.get(Escalation, incident_id, populate_existing=True)


def fire_due(*, session: Session, incident_id: int, now: datetime) -> list[Step]:
    """Claim every step of the incident that is due at `now`, in order; [] if none is, or if
    another caller claimed them first. The caller notifies in the same transaction."""
    state = _read(session, incident_id)
    if state is None or state.due_at is None or state.due_at > now:
        return []
    steps = steps_of(state.steps)
    to = _due_now(steps, state.started_at, state.next_step, now)
    if to == state.next_step:
        return []
    if not _advance(session, state, to, now, require_running=True):
        return []
    return steps[state.next_step : to]


def fire_next(*, session: Session, incident_id: int, now: datetime) -> Step | None:
    """Claim the next step at once (a person asked for more help, acknowledged or not);
    None when no step is left."""
    for _ in range(3):  # the scheduler may move the step between our read and our UPDATE
        state = _read(session, incident_id)
        if state is None:
            return None
        steps = steps_of(state.steps)
        if state.next_step >= len(steps):
            return None
        if _advance(session, state, state.next_step + 1, now, require_running=False):
            return steps[state.next_step]
    return None


def state_of(*, session: Session, incident_id: int) -> Escalation | None:
    return session.get(Escalation, incident_id)


def states_of(*, session: Session, incident_ids: Iterable[int]) -> dict[int, Escalation]:
    ids = list(incident_ids)
    if not ids:
        return {}
    rows = session.exec(select(Escalation).where(col(Escalation.incident_id).in_(ids)))
    return {row.incident_id: row for row in rows}


def due_incident_ids(*, session: Session, now: datetime, limit: int = 500) -> list[int]:
    rows = session.exec(
        select(Escalation.incident_id)
        .where(col(Escalation.due_at).is_not(None))
        .where(col(Escalation.due_at) <= now)
        .order_by(col(Escalation.due_at))
        .limit(limit)
    ).all()
    return list(rows)
