"""Swaps: one shift, identified by (rotation, layer, shift start), handed to someone else.

A swap is stored against the shift's identity, so an edit of the catalog never moves it. It
applies only while it fits: the layer still has a shift starting at that instant and the
from-person still holds it. Swaps that no longer fit are reported (`stale_swaps`), never
dropped. Status: requested -> accepted | declined | cancelled; only accepted swaps apply, in
the order they were agreed. An exchange is two swaps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from oncall import homes
from oncall.actors import check_actor
from oncall.catalog.models import Rotation
from oncall.catalog.service import get_rotation, list_rotations
from oncall.errors import InvalidRequest, UnknownEntity
from oncall.rotations.models import Swap, SwapStatus
from oncall.rotations.permissions import (
    active_person,
    active_rotation,
    aware,
    require_permission,
)
from oncall.rotations.queries import rotation_plan
from oncall.rotations.schedule import (
    RotationPlan,
    SwapSpan,
    hand_off,
    holder,
    shift_index,
    swap_index,
)
from oncall.rotations.wallclock import utc_to_local

# --- pure: a swap against a rotation's definition ------------------------------------------


def swap_span(swap: Swap) -> SwapSpan:
    """A stored swap as the schedule computation reads it."""
    return SwapSpan(
        id=swap.id or 0,
        layer=swap.layer,
        shift_start=swap.shift_start,
        from_person_id=swap.from_person_id,
        to_person_id=swap.to_person_id,
    )


def swap_problem(
    plan: RotationPlan, swap: SwapSpan, earlier: Iterable[SwapSpan] = ()
) -> str | None:
    """Why `swap` cannot apply to the rotation as now defined, or None when it applies.

    `earlier` are the accepted swaps that come before it (they may have handed the shift to
    the swap's from-person). Used when a swap is requested or accepted, and to report swaps
    that an edit of the catalog left behind.
    """
    found = plan.layer(swap.layer)
    if found is None:
        return f"rotation {plan.rotation_id!r} has no layer {swap.layer!r} any more"
    _, layer = found
    tz = plan.tz
    k = shift_index(layer, tz, swap.shift_start)
    local = utc_to_local(swap.shift_start, tz)
    if k < 0 or hand_off(layer, tz, k) != swap.shift_start:
        candidates = (
            [hand_off(layer, tz, 0)] if k < 0 else [hand_off(layer, tz, j) for j in (k, k + 1)]
        )
        near = min(candidates, key=lambda c: abs(c - swap.shift_start))
        return (
            f"no shift of layer {swap.layer!r} starts at {local:%Y-%m-%d %H:%M} {plan.timezone} "
            f"(the nearest starts at {utc_to_local(near, tz):%Y-%m-%d %H:%M})"
        )
    person, _ = holder(layer, k, swap.shift_start, swap_index(earlier))
    if person != swap.from_person_id:
        return (
            f"the shift of layer {swap.layer!r} starting {local:%Y-%m-%d %H:%M} "
            f"{plan.timezone} is held by {person!r}, not {swap.from_person_id!r}"
        )
    return None


def layer_shift(
    plan: RotationPlan, layer_name: str, shift_start: datetime
) -> tuple[int, datetime, datetime] | None:
    """(k, start, end) of the layer shift that starts exactly at `shift_start`, if any."""
    found = plan.layer(layer_name)
    if found is None:
        return None
    _, layer = found
    k = shift_index(layer, plan.tz, shift_start)
    if k < 0 or hand_off(layer, plan.tz, k) != shift_start:
        return None
    return k, shift_start, hand_off(layer, plan.tz, k + 1)


# --- stored swaps ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SwapReport:
    """A swap and, when it cannot apply to the rotation as now defined, why."""

    swap: Swap
    problem: str | None

    def to_dict(self) -> dict[str, Any]:
        s = self.swap
        return {
            "id": s.id,
            "rotation_id": s.rotation_id,
            "layer": s.layer,
            "shift_start": s.shift_start.isoformat(),
            "from_person_id": s.from_person_id,
            "to_person_id": s.to_person_id,
            "status": s.status,
            "requested_at": s.requested_at.isoformat(),
            "requested_by": s.requested_by,
            "decided_at": s.decided_at.isoformat() if s.decided_at else None,
            "decided_by": s.decided_by,
            "note": s.note,
            "applies": s.status == SwapStatus.accepted and self.problem is None,
            "problem": self.problem,
        }


def _same_shift(session: Session, swap: Swap) -> list[Swap]:
    query = (
        select(Swap)
        .where(
            col(Swap.rotation_id) == swap.rotation_id,
            col(Swap.layer) == swap.layer,
            col(Swap.shift_start) == swap.shift_start,
        )
        .order_by(col(Swap.decided_at), col(Swap.id))
    )
    return list(session.exec(query))


def _problem(
    session: Session, swap: Swap, plan: RotationPlan | None, retired: bool = False
) -> str | None:
    """Why a requested or accepted swap cannot apply (None: it applies / would apply)."""
    if plan is None:
        return f"rotation {swap.rotation_id!r} is not in the catalog any more"
    if retired:
        return f"rotation {swap.rotation_id!r} is retired"
    others = [s for s in _same_shift(session, swap) if s.status == SwapStatus.accepted]
    if swap.status == SwapStatus.accepted:
        position = next(i for i, s in enumerate(others) if s.id == swap.id)
        others = others[:position]  # only swaps agreed before this one hand the shift on
    return swap_problem(plan, swap_span(swap), [swap_span(s) for s in others])


def _shift_over(plan: RotationPlan | None, swap: Swap, now: datetime) -> bool:
    """A swap of a shift that has ended is history: not listed by default, not checked."""
    length = timedelta(0)
    if plan is not None and (found := plan.layer(swap.layer)) is not None:
        length = found[1].shift.nominal + timedelta(days=1)
    return swap.shift_start + length <= now


def request_swap(
    *,
    session: Session,
    rotation_id: str,
    layer: str,
    shift_start: datetime,
    from_person_id: str,
    to_person_id: str,
    now: datetime,
    by: str = "api",
    note: str | None = None,
) -> Swap:
    """Ask `to_person_id` to take the shift of `layer` starting at `shift_start` (a UTC
    instant) from `from_person_id`, who must hold it. The swap applies once accepted."""
    rotation = active_rotation(session=session, rotation_id=rotation_id)
    active_person(session=session, person_id=from_person_id, field="from_person_id")
    active_person(session=session, person_id=to_person_id, field="to_person_id")
    by = check_actor(session=session, by=by)
    require_permission(
        session=session,
        rotation=rotation,
        by=by,
        allowed={from_person_id},
        what="give away someone else's shift",
    )
    if from_person_id == to_person_id:
        raise InvalidRequest("a swap needs two different people", field="to_person_id")
    shift_start = aware(shift_start, "shift_start")
    plan = rotation_plan(rotation)
    if plan.layer(layer) is None:
        names = ", ".join(repr(x.name) for x in plan.layers)
        raise InvalidRequest(
            f"rotation {rotation_id!r} has no layer {layer!r} (layers: {names})", field="layer"
        )
    found = layer_shift(plan, layer, shift_start)
    if found is None:
        probe = SwapSpan(0, layer, shift_start, from_person_id, to_person_id)
        raise InvalidRequest(swap_problem(plan, probe) or "no such shift", field="shift_start")
    if found[2] <= now:
        raise InvalidRequest("that shift has already ended", field="shift_start")
    swap = Swap(
        rotation_id=rotation_id,
        layer=layer,
        shift_start=shift_start,
        from_person_id=from_person_id,
        to_person_id=to_person_id,
        status=SwapStatus.requested,
        requested_at=now,
        requested_by=by,
        note=note,
    )
    problem = _problem(session, swap, plan)
    if problem is not None:
        raise InvalidRequest(problem, field="from_person_id")
    session.add(swap)
    session.flush()
    return swap


def _pending(session: Session, swap_id: int, rotation_id: str | None) -> tuple[Swap, Rotation]:
    swap = session.get(Swap, swap_id)
    if swap is None or (rotation_id is not None and swap.rotation_id != rotation_id):
        raise UnknownEntity("swap", str(swap_id))
    if swap.status != SwapStatus.requested:
        raise InvalidRequest(f"swap {swap_id} is {swap.status}, not requested", field="swap_id")
    return swap, get_rotation(session=session, rotation_id=swap.rotation_id)


def accept_swap(
    *,
    session: Session,
    swap_id: int,
    now: datetime,
    by: str = "api",
    rotation_id: str | None = None,
) -> Swap:
    """The to-person (or a lead) takes the shift. Other open requests to give away the same
    shift from the same person are cancelled: the shift has gone."""
    swap, rotation = _pending(session, swap_id, rotation_id)
    by = check_actor(session=session, by=by)
    require_permission(
        session=session, rotation=rotation, by=by, allowed={swap.to_person_id}, what="accept it"
    )
    if rotation.retired_at is not None:
        raise InvalidRequest(f"rotation {rotation.id!r} is retired", field="swap_id")
    problem = _problem(session, swap, rotation_plan(rotation))
    if problem is not None:
        raise InvalidRequest(f"swap {swap_id} can no longer apply: {problem}", field="swap_id")
    swap.status, swap.decided_at, swap.decided_by = SwapStatus.accepted, now, by
    session.add(swap)
    for other in _same_shift(session, swap):
        if (
            other.id != swap.id
            and other.status == SwapStatus.requested
            and other.from_person_id == swap.from_person_id
        ):
            other.status, other.decided_at, other.decided_by = SwapStatus.cancelled, now, "system"
            other.note = f"{other.note + '; ' if other.note else ''}superseded by swap {swap.id}"
            session.add(other)
    session.flush()
    homes.refresh_rotation(session=session, rotation_id=rotation.id, now=now)
    return swap


def decline_swap(
    *,
    session: Session,
    swap_id: int,
    now: datetime,
    by: str = "api",
    rotation_id: str | None = None,
) -> Swap:
    """The person asked says no."""
    return _answer(session, swap_id, now, by, rotation_id, SwapStatus.declined, "decline it")


def cancel_swap(
    *,
    session: Session,
    swap_id: int,
    now: datetime,
    by: str = "api",
    rotation_id: str | None = None,
) -> Swap:
    """Withdraw a request that has not been answered."""
    return _answer(session, swap_id, now, by, rotation_id, SwapStatus.cancelled, "cancel it")


def _answer(
    session: Session,
    swap_id: int,
    now: datetime,
    by: str,
    rotation_id: str | None,
    status: SwapStatus,
    what: str,
) -> Swap:
    """Close a pending request as declined (by the person asked) or cancelled (by the asker)."""
    swap, rotation = _pending(session, swap_id, rotation_id)
    by = check_actor(session=session, by=by)
    allowed = (
        {swap.to_person_id}
        if status == SwapStatus.declined
        else {swap.from_person_id, swap.requested_by}
    )
    require_permission(session=session, rotation=rotation, by=by, allowed=allowed, what=what)
    swap.status, swap.decided_at, swap.decided_by = status, now, by
    session.add(swap)
    session.flush()
    return swap


def list_swaps(
    *, session: Session, now: datetime, rotation_id: str | None = None, include_past: bool = False
) -> list[SwapReport]:
    """Requested and accepted swaps of shifts not over yet, each with its problem if it no
    longer fits the rotation; with `include_past`, every swap ever made."""
    query = select(Swap).order_by(col(Swap.shift_start), col(Swap.id))
    if rotation_id is not None:
        get_rotation(session=session, rotation_id=rotation_id)
        query = query.where(col(Swap.rotation_id) == rotation_id)
    rotations = {r.id: r for r in list_rotations(session=session, include_retired=True)}
    out: list[SwapReport] = []
    for swap in session.exec(query):
        rotation = rotations.get(swap.rotation_id)
        plan = rotation_plan(rotation) if rotation else None
        live = swap.status in (SwapStatus.requested, SwapStatus.accepted)
        if not include_past and (not live or _shift_over(plan, swap, now)):
            continue
        retired = rotation is not None and rotation.retired_at is not None
        out.append(SwapReport(swap, _problem(session, swap, plan, retired) if live else None))
    return out


def stale_swaps(
    *,
    session: Session,
    now: datetime,
    plans: Mapping[str, RotationPlan] | None = None,
) -> list[SwapReport]:
    """Requested or accepted swaps of shifts not over yet that can no longer apply: their
    layer or shift is gone, or the from-person no longer holds the shift. `plans` checks them
    against another definition (an edited oncall.yaml) instead of the stored catalog."""
    if plans is None:
        return [r for r in list_swaps(session=session, now=now) if r.problem is not None]
    query = (
        select(Swap)
        .where(col(Swap.status).in_([SwapStatus.requested, SwapStatus.accepted]))
        .order_by(col(Swap.shift_start), col(Swap.id))
    )
    out: list[SwapReport] = []
    for swap in session.exec(query):
        plan = plans.get(swap.rotation_id)
        if _shift_over(plan, swap, now):
            continue
        problem = _problem(session, swap, plan)
        if problem is not None:
            out.append(SwapReport(swap, problem))
    return out


def describe_swap(swap: Swap, timezone: str | None = None) -> str:
    when = swap.shift_start.isoformat()
    if timezone:
        when = f"{utc_to_local(swap.shift_start, ZoneInfo(timezone)):%Y-%m-%d %H:%M} {timezone}"
    return (
        f"swap {swap.id} ({swap.rotation_id}, layer {swap.layer!r}, shift {when}, "
        f"{swap.from_person_id} -> {swap.to_person_id}, {swap.status})"
    )
