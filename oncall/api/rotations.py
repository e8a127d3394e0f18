"""HTTP routes: who is on call, final shifts, overrides and swaps of rotations.

Reads are open like the rest of the REST surface; mutations take the webhook token and an
optional `by` (a person id) recorded as the actor, `api` without it. Times without a UTC
offset are read as UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from oncall.api.deps import NowDep, SessionDep, TokenDep
from oncall.catalog.models import Person
from oncall.catalog.service import get_rotation
from oncall.rotations import overrides, queries, swaps
from oncall.rotations.models import Swap
from oncall.rotations.schedule import Shift

router = APIRouter(prefix="/api/v1", tags=["rotations"])

MAX_RANGE = timedelta(days=366)
DEFAULT_RANGE = timedelta(days=14)
ByParam = Query("api", description="Person id of who acts (recorded); `api` when absent.")


def _utc(value: datetime | None, default: datetime) -> datetime:
    if value is None:
        return default
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bad_query(field: str, message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[{"loc": ["query", field], "msg": message, "type": "value_error"}],
    )


def _names(session: Session, shifts: list[Shift]) -> dict[str, str]:
    ids = {s.person_id for s in shifts}
    if not ids:
        return {}
    return {p.id: p.name for p in session.exec(select(Person).where(col(Person.id).in_(ids)))}


def _shift(shift: Shift, names: dict[str, str]) -> dict[str, Any]:
    return shift.to_dict() | {"person_name": names.get(shift.person_id)}


# --- schedule --------------------------------------------------------------------------------


@router.get("/oncall")
def who_is_on_call(
    session: SessionDep,
    now: NowDep,
    rotation: str | None = Query(None, description="Rotation id; every active one without it."),
    at: datetime | None = Query(None, description="ISO 8601 time; now without it."),
) -> dict[str, Any]:
    """Who is on call: layers, restrictions, swaps and overrides applied."""
    when = _utc(at, now)
    if rotation is not None:
        row = get_rotation(session=session, rotation_id=rotation)
        pairs = [(row, queries.who_is_on_call(session=session, rotation_id=row.id, at=when))]
    else:
        pairs = queries.who_is_on_call_everywhere(session=session, at=when)
    shifts = [s for _, s in pairs if s is not None]
    names = _names(session, shifts)
    return {
        "at": when.isoformat(),
        "oncall": [
            {"rotation_id": r.id, "shift": _shift(s, names) if s else None} for r, s in pairs
        ],
    }


@router.get("/rotations/{rotation_id}/shifts")
def shifts(
    rotation_id: str,
    session: SessionDep,
    now: NowDep,
    start: datetime | None = Query(None, alias="from", description="Default: now."),
    end: datetime | None = Query(None, alias="to", description="Default: 14 days after from."),
) -> dict[str, Any]:
    """The final shifts in [from, to), cut at its edges (at most 366 days)."""
    begin = _utc(start, now)
    finish = _utc(end, begin + DEFAULT_RANGE)
    if finish <= begin:
        raise _bad_query("to", "`to` must be after `from`")
    if finish - begin > MAX_RANGE:
        raise _bad_query("to", f"ask for at most {MAX_RANGE.days} days at a time")
    found = queries.final_shifts(session=session, rotation_id=rotation_id, start=begin, end=finish)
    names = _names(session, found)
    return {
        "rotation_id": rotation_id,
        "from": begin.isoformat(),
        "to": finish.isoformat(),
        "shifts": [_shift(s, names) for s in found],
    }


@router.get("/rotations/{rotation_id}/fairness")
def fairness(
    rotation_id: str,
    session: SessionDep,
    now: NowDep,
    start: datetime | None = Query(None, alias="from", description="Default: 28 days ago."),
    end: datetime | None = Query(None, alias="to", description="Default: now."),
) -> dict[str, Any]:
    """Hours, weekend hours and night hours (22:00-08:00 in each person's time zone)."""
    finish = _utc(end, now)
    begin = _utc(start, finish - timedelta(days=28))
    if finish <= begin or finish - begin > MAX_RANGE:
        raise _bad_query("to", f"`to` must be after `from`, at most {MAX_RANGE.days} days")
    loads = queries.load_report(session=session, rotation_id=rotation_id, start=begin, end=finish)
    return {
        "rotation_id": rotation_id,
        "from": begin.isoformat(),
        "to": finish.isoformat(),
        "people": [load.to_dict() for load in loads],
    }


# --- overrides -------------------------------------------------------------------------------


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(min_length=1, max_length=64)
    starts_at: datetime
    ends_at: datetime
    note: str | None = Field(None, max_length=500)


@router.get("/rotations/{rotation_id}/overrides")
def list_overrides(
    rotation_id: str,
    session: SessionDep,
    now: NowDep,
    include_past: bool = Query(False, alias="all", description="Also ended and removed ones."),
) -> list[dict[str, Any]]:
    rows = overrides.list_overrides(
        session=session, now=now, rotation_id=rotation_id, include_past=include_past
    )
    return [overrides.override_dict(o) for o in rows]


@router.post(
    "/rotations/{rotation_id}/overrides",
    status_code=status.HTTP_201_CREATED,
    dependencies=[TokenDep],
)
def add_override(
    rotation_id: str, body: OverrideIn, session: SessionDep, now: NowDep, by: str = ByParam
) -> dict[str, Any]:
    """`person_id` covers the rotation from `starts_at` to `ends_at`; a later override wins."""
    override = overrides.add_override(
        session=session,
        rotation_id=rotation_id,
        person_id=body.person_id,
        start=_utc(body.starts_at, now),
        end=_utc(body.ends_at, now),
        now=now,
        by=by,
        note=body.note,
    )
    session.commit()
    return overrides.override_dict(override)


@router.delete("/rotations/{rotation_id}/overrides/{override_id}", dependencies=[TokenDep])
def remove_override(
    rotation_id: str, override_id: int, session: SessionDep, now: NowDep, by: str = ByParam
) -> dict[str, Any]:
    """Remove an override; one in progress is cut short now, one that ended stays history."""
    get_rotation(session=session, rotation_id=rotation_id)
    override = overrides.remove_override(
        session=session, override_id=override_id, now=now, by=by, rotation_id=rotation_id
    )
    session.commit()
    return overrides.override_dict(override)


# --- swaps -----------------------------------------------------------------------------------


class SwapIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    layer: str = Field(min_length=1, max_length=64)
    shift_start: datetime = Field(description="The start of the shift (with offset, or UTC).")
    from_person_id: str = Field(min_length=1, max_length=64)
    to_person_id: str = Field(min_length=1, max_length=64)
    note: str | None = Field(None, max_length=500)


@router.get("/rotations/{rotation_id}/swaps")
def list_swaps(
    rotation_id: str,
    session: SessionDep,
    now: NowDep,
    include_past: bool = Query(False, alias="all", description="Also past and closed swaps."),
) -> list[dict[str, Any]]:
    """Open and accepted swaps of shifts not over; `problem` says why one no longer applies."""
    reports = swaps.list_swaps(
        session=session, now=now, rotation_id=rotation_id, include_past=include_past
    )
    return [r.to_dict() for r in reports]


@router.post(
    "/rotations/{rotation_id}/swaps", status_code=status.HTTP_201_CREATED, dependencies=[TokenDep]
)
def request_swap(
    rotation_id: str, body: SwapIn, session: SessionDep, now: NowDep, by: str = ByParam
) -> dict[str, Any]:
    """Ask `to_person_id` to take the shift of `layer` starting at `shift_start`."""
    swap = swaps.request_swap(
        session=session,
        rotation_id=rotation_id,
        layer=body.layer,
        shift_start=_utc(body.shift_start, now),
        from_person_id=body.from_person_id,
        to_person_id=body.to_person_id,
        now=now,
        by=by,
        note=body.note,
    )
    session.commit()
    return swaps.SwapReport(swap, None).to_dict()


def _decide(
    action: Callable[..., Swap],
    rotation_id: str,
    swap_id: int,
    session: Session,
    now: datetime,
    by: str,
) -> dict[str, Any]:
    get_rotation(session=session, rotation_id=rotation_id)
    swap = action(session=session, swap_id=swap_id, now=now, by=by, rotation_id=rotation_id)
    session.commit()
    return swaps.SwapReport(swap, None).to_dict()


@router.post("/rotations/{rotation_id}/swaps/{swap_id}/accept", dependencies=[TokenDep])
def accept_swap(
    rotation_id: str, swap_id: int, session: SessionDep, now: NowDep, by: str = ByParam
) -> dict[str, Any]:
    """The to-person (or a team lead) takes the shift."""
    return _decide(swaps.accept_swap, rotation_id, swap_id, session, now, by)


@router.post("/rotations/{rotation_id}/swaps/{swap_id}/decline", dependencies=[TokenDep])
def decline_swap(
    rotation_id: str, swap_id: int, session: SessionDep, now: NowDep, by: str = ByParam
) -> dict[str, Any]:
    return _decide(swaps.decline_swap, rotation_id, swap_id, session, now, by)


@router.post("/rotations/{rotation_id}/swaps/{swap_id}/cancel", dependencies=[TokenDep])
def cancel_swap(
    rotation_id: str, swap_id: int, session: SessionDep, now: NowDep, by: str = ByParam
) -> dict[str, Any]:
    """The requester withdraws an unanswered request."""
    return _decide(swaps.cancel_swap, rotation_id, swap_id, session, now, by)
