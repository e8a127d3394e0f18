"""Rotations with the database: who is on call, final shifts, overrides and swaps.

Layers come from the catalog tables, overrides and swaps from their own tables; the schedule
itself is computed (`schedule.py`) and never stored. Every function takes its time (`at`,
`now`) as a parameter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Text, bindparam, cast, exists, or_
from sqlalchemy import select as select_columns
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from oncall.actors import SYSTEM_ACTORS, check_actor
from oncall.catalog.models import Person, Rotation, Team
from oncall.catalog.schema import CatalogSpec
from oncall.catalog.service import get_person, get_rotation, list_rotations
from oncall.errors import InvalidRequest, NotAllowed, UnknownEntity
from oncall.rotations.fairness import Load, fairness
from oncall.rotations.models import Override, Swap, SwapStatus
from oncall.rotations.schedule import (
    OverrideIndex,
    OverrideSpan,
    RotationPlan,
    Shift,
    SwapSpan,
    compute_shifts,
    gaps,
    layers_on_call,
    on_call_at,
    plan_rotation,
    top_layer_piece,
)
from oncall.rotations.wallclock import utc_to_local

if TYPE_CHECKING:
    from oncall.rotations.swaps import SwapReport

GAP_HORIZON = timedelta(days=90)
_TICK = timedelta(microseconds=1)


# --- the schedule --------------------------------------------------------------------------


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


def swap_span(swap: Swap) -> SwapSpan:
    return SwapSpan(
        id=swap.id or 0,
        layer=swap.layer,
        shift_start=swap.shift_start,
        from_person_id=swap.from_person_id,
        to_person_id=swap.to_person_id,
    )


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


def on_call_person(*, session: Session, rotation_id: str | None, at: datetime) -> str | None:
    """The id of whoever is on call in a rotation at `at`; None without a rotation or in a gap.

    What an incident is assigned to, so it runs for every new incident: when no override or
    swap touches `at` (the usual case, asked in the same query as the rotation), the answer
    comes from the layers alone, which the plan remembers; otherwise it is `who_is_on_call`."""
    if rotation_id is None:
        return None
    row = (
        session.connection()
        .execute(
            _ROTATION_AT,
            {
                "rotation_id": rotation_id,
                "at": at,
                "after": at + _TICK,
                "swaps_from": at - _SWAP_REACH,
            },
        )
        .first()
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


# --- who may do what -------------------------------------------------------------------------


def _leads(session: Session, rotation: Rotation) -> set[str]:
    team = session.get(Team, rotation.team_id)
    return set(team.leads) if team else set()


def require_permission(
    session: Session, rotation: Rotation, by: str, allowed: set[str], what: str
) -> None:
    """People act only on what concerns them, or as a lead of the rotation's team; the API
    (behind its token) and the local command line act for anyone."""
    if by in SYSTEM_ACTORS or by in allowed or by in _leads(session, rotation):
        return
    raise NotAllowed(f"{by!r} may not {what}: only {', '.join(sorted(allowed))} or a team lead")


def active_rotation(session: Session, rotation_id: str) -> Rotation:
    rotation = get_rotation(session=session, rotation_id=rotation_id)
    if rotation.retired_at is not None:
        raise InvalidRequest(f"rotation {rotation_id!r} is retired", field="rotation_id")
    return rotation


def active_person(session: Session, person_id: str, field: str) -> Person:
    person = get_person(session=session, person_id=person_id)
    if person.retired_at is not None:
        raise InvalidRequest(f"person {person_id!r} is retired", field=field)
    return person


def aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidRequest(f"{field}: {value.isoformat()} has no UTC offset", field=field)
    return value


# --- overrides -------------------------------------------------------------------------------


def add_override(
    *,
    session: Session,
    rotation_id: str,
    person_id: str,
    start: datetime,
    end: datetime,
    now: datetime,
    by: str = "api",
    note: str | None = None,
) -> Override:
    """`person_id` covers the rotation over [start, end), whoever the layers give. Where
    overrides overlap, the later one (higher id) wins. An override in the past is allowed:
    it corrects the record of who carried the pager."""
    rotation = active_rotation(session, rotation_id)
    active_person(session, person_id, "person_id")
    by = check_actor(session=session, by=by)
    require_permission(session, rotation, by, {person_id}, "add overrides for others")
    start, end = aware(start, "start"), aware(end, "end")
    if end <= start:
        raise InvalidRequest(
            f"the override ends ({end.isoformat()}) before it starts ({start.isoformat()})",
            field="end",
        )
    override = Override(
        rotation_id=rotation_id,
        person_id=person_id,
        starts_at=start,
        ends_at=end,
        created_at=now,
        created_by=by,
        note=note,
    )
    session.add(override)
    session.flush()
    return override


def override_dict(o: Override) -> dict[str, Any]:
    return {
        "id": o.id,
        "rotation_id": o.rotation_id,
        "person_id": o.person_id,
        "starts_at": o.starts_at.isoformat(),
        "ends_at": o.ends_at.isoformat(),
        "note": o.note,
        "created_at": o.created_at.isoformat(),
        "created_by": o.created_by,
        "removed_at": o.removed_at.isoformat() if o.removed_at else None,
        "removed_by": o.removed_by,
    }


def list_overrides(
    *, session: Session, now: datetime, rotation_id: str | None = None, include_past: bool = False
) -> list[Override]:
    """Current and upcoming overrides by start; with `include_past`, also those that ended
    and those removed (history)."""
    query = select(Override).order_by(col(Override.starts_at), col(Override.id))
    if rotation_id is not None:
        get_rotation(session=session, rotation_id=rotation_id)
        query = query.where(col(Override.rotation_id) == rotation_id)
    if not include_past:
        query = query.where(col(Override.ends_at) > now, col(Override.removed_at).is_(None))
    return list(session.exec(query))


def remove_override(
    *,
    session: Session,
    override_id: int,
    now: datetime,
    by: str = "api",
    rotation_id: str | None = None,
) -> Override:
    """Remove an override. One that has not started stops applying at all; one in progress
    is cut short at `now`; one that has ended is history and cannot be removed."""
    override = session.get(Override, override_id)
    if override is None or (rotation_id is not None and override.rotation_id != rotation_id):
        raise UnknownEntity("override", str(override_id))
    if override.removed_at is not None:
        raise InvalidRequest(f"override {override_id} was already removed", field="override_id")
    if override.ends_at <= now:
        raise InvalidRequest(
            f"override {override_id} ended at {override.ends_at.isoformat()}; "
            "it is kept as history",
            field="override_id",
        )
    rotation = get_rotation(session=session, rotation_id=override.rotation_id)
    by = check_actor(session=session, by=by)
    require_permission(
        session, rotation, by, {override.person_id, override.created_by}, "remove it"
    )
    override.removed_at = now
    override.removed_by = by
    if override.starts_at < now:
        override.ends_at = now
    session.add(override)
    session.flush()
    return override


# --- catalog checks --------------------------------------------------------------------------


def plans_from_spec(spec: CatalogSpec) -> dict[str, RotationPlan]:
    return {
        r.id: plan_rotation(
            rotation_id=r.id,
            timezone=r.timezone or spec.timezone,
            layers=[
                {
                    "name": layer.name or str(i + 1),
                    "members": list(layer.members),
                    "start": layer.start,
                    "shift": layer.shift,
                    "restrict": list(layer.restrict),
                }
                for i, layer in enumerate(r.layers)
            ],
        )
        for r in spec.rotations
    }


def _gap_warning(plan: RotationPlan, holes: Sequence[tuple[datetime, datetime]]) -> str:
    hours = sum((b - a for a, b in holes), timedelta(0)) / timedelta(hours=1)
    first_a, first_b = holes[0]
    tz = plan.tz
    return (
        f"rotation {plan.rotation_id!r}: nobody is on call for {hours:.4g} h in the next "
        f"{GAP_HORIZON.days} days ({len(holes)} gap{'s' if len(holes) != 1 else ''}); the first "
        f"from {utc_to_local(first_a, tz):%a %Y-%m-%d %H:%M} to "
        f"{utc_to_local(first_b, tz):%a %Y-%m-%d %H:%M} ({plan.timezone})"
    )


def catalog_warnings(
    spec: CatalogSpec, *, source: str, now: datetime, session: Session | None = None
) -> list[str]:
    """What `oncall config check` warns about: stretches of the next 90 days that no layer
    covers, and stored swaps that the file's rotations would leave without a shift.

    Without a session, swaps are checked against the configured database when one exists at
    the current migration; a file is still checked when no database is reachable.
    """
    plans = plans_from_spec(spec)
    warnings: list[str] = []
    for plan in plans.values():
        holes = gaps(plan, start=now, end=now + GAP_HORIZON)
        if holes:
            warnings.append(_gap_warning(plan, holes))
    from oncall.rotations.swaps import describe_swap, stale_swaps  # swaps build on this module

    if session is not None:
        reports = stale_swaps(session=session, now=now, plans=plans)
    else:
        reports = _stale_swaps_in_configured_database(now, plans)
    for report in reports:
        known = plans.get(report.swap.rotation_id)
        desc = describe_swap(report.swap, known.timezone if known else None)
        warnings.append(f"{desc} no longer applies with {source}: {report.problem}")
    return warnings


def _stale_swaps_in_configured_database(
    now: datetime, plans: Mapping[str, RotationPlan]
) -> list[SwapReport]:
    """`config check` passes no session: look at the configured database if it is there."""
    from oncall import migrate
    from oncall.config import Settings
    from oncall.db import is_sqlite, make_engine
    from oncall.rotations.swaps import stale_swaps

    try:
        url = Settings().database_url
    except ValueError:
        return []
    if is_sqlite(url):
        path = url.split(":///", 1)[-1] if ":///" in url else ""
        if not path or path == ":memory:" or not Path(path).expanduser().exists():
            return []  # never create a database file just to check a catalog
    engine = make_engine(url)
    try:
        if not migrate.is_at_head(engine):
            return []
        with Session(engine) as session:
            return stale_swaps(session=session, now=now, plans=plans)
    except SQLAlchemyError:
        return []
    finally:
        engine.dispose()
