"""The schedule from the database: rotation plans, who is on call, final shifts, load (reads).

Layers come from the catalog tables, overrides and swaps from their own tables; the schedule
itself is computed (`schedule.py`) and never stored. Every function takes its time (`at`,
`start`, `end`) as a parameter.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import ColumnElement, Text, bindparam, cast, exists, or_
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from oncall.catalog.models import Person, Rotation
from oncall.catalog.service import get_person, get_rotation, list_rotations
from oncall.db import DriverQuery, read_sqlite_timestamp
from oncall.errors import UnknownEntity
from oncall.rotations.fairness import Load, fairness
from oncall.rotations.models import Override, Swap, SwapStatus
from oncall.rotations.schedule import (
    OverrideIndex,
    OverrideSpan,
    RotationPlan,
    Shift,
    SwapSpan,
    compute_shifts,
    layers_on_call,
    on_call_at,
    plan_rotation,
    top_layer_piece,
)

_TICK = timedelta(microseconds=1)


@lru_cache(maxsize=256)
def _cached_plan(rotation_id: str, timezone: str, layers_json: str) -> RotationPlan:
    return plan_rotation(rotation_id=rotation_id, timezone=timezone, layers=json.loads(layers_json))


def rotation_plan(rotation: Rotation) -> RotationPlan:
    """The parsed layers of a rotation row (cached by content: a catalog edit is a new plan)."""
    return _cached_plan(rotation.id, rotation.timezone, json.dumps(rotation.layers, sort_keys=True))


def _longest_shift(plan: RotationPlan) -> timedelta:
    # A shift can be longer than nominal by a DST jump (at most a day, Samoa 2011).
    return max((layer.shift.nominal for layer in plan.layers), default=timedelta(0)) + timedelta(
        days=1
    )


def _overrides_overlapping(start: str, end: str) -> tuple[ColumnElement[bool], ...]:
    """Overrides of rotation :rotation_id that apply somewhere in [:start, :end)."""
    return (
        col(Override.rotation_id) == bindparam("rotation_id"),
        # An override removed after it started still covers its past (it was cut short then).
        or_(
            col(Override.removed_at).is_(None),
            col(Override.starts_at) < col(Override.removed_at),
        ),
        col(Override.starts_at) < bindparam(end),
        col(Override.ends_at) > bindparam(start),
    )


def _accepted_swaps_of_shifts_starting(start: str, end: str) -> tuple[ColumnElement[bool], ...]:
    """Accepted swaps of rotation :rotation_id for shifts starting in [:start, :end)."""
    return (
        col(Swap.rotation_id) == bindparam("rotation_id"),
        col(Swap.status) == SwapStatus.accepted.value,
        col(Swap.shift_start) >= bindparam(start),
        col(Swap.shift_start) < bindparam(end),
    )


# The hot queries of `who` are built once with bound parameters and select plain columns:
# building the statement and loading ORM objects cost more than the query itself.
_OVERRIDES_OVERLAPPING = select_columns(
    col(Override.id), col(Override.person_id), col(Override.starts_at), col(Override.ends_at)
).where(*_overrides_overlapping("start", "end"))
_ACCEPTED_SWAPS = (
    select_columns(
        col(Swap.id),
        col(Swap.layer),
        col(Swap.shift_start),
        col(Swap.from_person_id),
        col(Swap.to_person_id),
    )
    .where(*_accepted_swaps_of_shifts_starting("start", "end"))
    .order_by(col(Swap.decided_at), col(Swap.id))
)


def override_spans(
    *, session: Session, rotation_id: str, start: datetime, end: datetime
) -> list[OverrideSpan]:
    """Overrides of a rotation that overlap [start, end), in one query."""
    rows = session.execute(
        _OVERRIDES_OVERLAPPING, {"rotation_id": rotation_id, "start": start, "end": end}
    )
    return [OverrideSpan(*row) for row in rows]


def accepted_swaps(
    *, session: Session, rotation_id: str, start: datetime, end: datetime
) -> list[SwapSpan]:
    """Accepted swaps of shifts starting in [start, end), in the order they were agreed."""
    rows = session.execute(
        _ACCEPTED_SWAPS, {"rotation_id": rotation_id, "start": start, "end": end}
    )
    return [SwapSpan(*row) for row in rows]


def who_is_on_call(*, session: Session, rotation_id: str, at: datetime) -> Shift | None:
    """The final shift (layers, restrictions, swaps, overrides) running at `at`, or None when
    nobody covers. Raises UnknownEntity for an unknown rotation; a retired rotation has
    nobody on call from its retirement on."""
    rotation = get_rotation(session=session, rotation_id=rotation_id)
    if rotation.retired_at is not None and at >= rotation.retired_at:
        return None
    plan = rotation_plan(rotation)
    top = top_layer_piece(plan, at)
    low, high = (top[1], top[2]) if top else (at, at + _TICK)
    spans = override_spans(session=session, rotation_id=rotation_id, start=low, end=high)
    index = OverrideIndex(rotation_id, spans)
    piece = index.at(at)
    if piece is not None:
        winner = next(s for s in spans if s.id == piece.override_id)
        if winner.start < low or winner.end > high:
            # The piece can be cut by later overrides anywhere inside the winner's range.
            spans = override_spans(
                session=session,
                rotation_id=rotation_id,
                start=min(low, winner.start),
                end=max(high, winner.end),
            )
            index = OverrideIndex(rotation_id, spans)
        return index.at(at)
    if top is None:
        return None
    swaps = accepted_swaps(
        session=session, rotation_id=rotation_id, start=low - _longest_shift(plan), end=high
    )
    return on_call_at(plan, at=at, overrides=index, swaps=swaps, piece=top)


def final_shifts(
    *, session: Session, rotation_id: str, start: datetime, end: datetime
) -> list[Shift]:
    """The final shifts of a rotation inside [start, end), cut at its edges."""
    rotation = get_rotation(session=session, rotation_id=rotation_id)
    if rotation.retired_at is not None:
        end = min(end, rotation.retired_at)
    if start >= end:
        return []
    plan = rotation_plan(rotation)
    spans = override_spans(session=session, rotation_id=rotation_id, start=start, end=end)
    swaps = accepted_swaps(
        session=session, rotation_id=rotation_id, start=start - _longest_shift(plan), end=end
    )
    return compute_shifts(plan, start=start, end=end, overrides=spans, swaps=swaps)


# Swaps a rotation's remembered layer answers can be trusted without: those of shifts that
# start more than this before `at` cannot cover it, for shifts up to two weeks (plus a day of
# DST). A rotation with longer shifts takes the general path.
_SWAP_REACH = timedelta(days=15)
_ROTATIONS = Rotation.__table__  # type: ignore[attr-defined]

# The rotation row and whether runtime state touches `at`: an override covering it (one that
# applies in [at, at + tick)) or an accepted swap of a shift that can cover it. One round
# trip, no ORM load: every new incident asks it.
_ROTATION_AT = select_columns(
    _ROTATIONS.c.timezone,
    cast(_ROTATIONS.c.layers, Text).label("layers_json"),
    _ROTATIONS.c.retired_at,
    or_(
        exists().where(*_overrides_overlapping("at", "after")),
        exists().where(*_accepted_swaps_of_shifts_starting("swaps_from", "after")),
    ).label("adjusted"),
).where(_ROTATIONS.c.id == bindparam("rotation_id"))


_ROTATION_AT_QUERY = DriverQuery(_ROTATION_AT, {"retired_at": read_sqlite_timestamp})


def on_call_person(*, session: Session, rotation_id: str | None, at: datetime) -> str | None:
    """The id of whoever is on call in a rotation at `at`; None without a rotation or in a gap.

    What an incident is assigned to, so it runs for every new incident: when no override or
    swap touches `at` (the usual case, asked in the same query as the rotation), the answer
    comes from the layers alone, which the plan remembers; otherwise it is `who_is_on_call`."""
    if rotation_id is None:
        return None
    row = _ROTATION_AT_QUERY.first(
        session.connection(),
        {
            "rotation_id": rotation_id,
            "at": at,
            "after": at + _TICK,
            "swaps_from": at - _SWAP_REACH,
        },
    )
    if row is None:
        raise UnknownEntity("rotation", rotation_id)
    if row.retired_at is not None and at >= row.retired_at:
        return None
    plan = _cached_plan(rotation_id, row.timezone, row.layers_json)
    if row.adjusted or _longest_shift(plan) > _SWAP_REACH:
        shift = who_is_on_call(session=session, rotation_id=rotation_id, at=at)
    else:
        shift = layers_on_call(plan, at)
    return shift.person_id if shift else None


def who_is_on_call_everywhere(
    *, session: Session, at: datetime
) -> list[tuple[Rotation, Shift | None]]:
    """Every active rotation with whoever is on call there at `at`."""
    return [
        (r, who_is_on_call(session=session, rotation_id=r.id, at=at))
        for r in list_rotations(session=session)
    ]


def person_shifts(
    *, session: Session, person_id: str, start: datetime, end: datetime
) -> list[Shift]:
    """One person's final shifts across every rotation, in time order (the personal feed)."""
    get_person(session=session, person_id=person_id)
    out: list[Shift] = []
    for rotation in list_rotations(session=session, include_retired=True):
        shifts = final_shifts(session=session, rotation_id=rotation.id, start=start, end=end)
        out += [s for s in shifts if s.person_id == person_id]
    return sorted(out, key=lambda s: (s.start, s.rotation_id))


def load_report(
    *, session: Session, rotation_id: str, start: datetime, end: datetime
) -> list[Load]:
    """Hours, weekend hours and night hours per person over [start, end) (`--fairness`)."""
    rotation = get_rotation(session=session, rotation_id=rotation_id)
    shifts = final_shifts(session=session, rotation_id=rotation_id, start=start, end=end)
    people = {s.person_id for s in shifts}
    timezones = {
        p.id: p.timezone for p in session.exec(select(Person).where(col(Person.id).in_(people)))
    }
    return fairness(shifts, timezones=timezones, default_timezone=rotation.timezone)


_ROTATION_ROW = select_columns(
    _ROTATIONS.c.timezone,
    cast(_ROTATIONS.c.layers, Text).label("layers_json"),
    _ROTATIONS.c.retired_at,
).where(_ROTATIONS.c.id == bindparam("rotation_id"))
_ADJUSTED_BEFORE = select_columns(
    or_(
        exists().where(*_overrides_overlapping("at", "after")),
        exists().where(*_accepted_swaps_of_shifts_starting("swaps_from", "after")),
    )
)


def current_shift(*, session: Session, rotation_id: str, at: datetime) -> Shift | None:
    """`who_is_on_call`, answered from the layers alone (remembered by the plan) when no
    override or swap touches the layers' shift running at `at` — what `/oncall who` asks for every
    rotation on every call. Two small queries instead of the general path's four."""
    connection = session.connection()
    row = connection.execute(_ROTATION_ROW, {"rotation_id": rotation_id}).first()
    if row is None:
        raise UnknownEntity("rotation", rotation_id)
    if row.retired_at is not None and at >= row.retired_at:
        return None
    plan = _cached_plan(rotation_id, row.timezone, row.layers_json)
    if _longest_shift(plan) > _SWAP_REACH:
        return who_is_on_call(session=session, rotation_id=rotation_id, at=at)
    shift = layers_on_call(plan, at)
    # An override anywhere in the shift cuts it (the piece after it starts when it ends).
    since, until = (shift.start, shift.end) if shift is not None else (at, at + _TICK)
    if row.retired_at is not None:
        until = max(min(until, row.retired_at), at + _TICK)
    adjusted = connection.execute(
        _ADJUSTED_BEFORE,
        {
            "rotation_id": rotation_id,
            "at": since,
            "after": until,
            "swaps_from": since - _SWAP_REACH,
        },
    ).scalar()
    if adjusted:
        return who_is_on_call(session=session, rotation_id=rotation_id, at=at)
    return shift
