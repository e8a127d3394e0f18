"""Overrides: someone covers a rotation for a time range, whoever the layers give.

Where overrides overlap, the later one (higher id) wins. Removing one cuts it short or, if it
has not started, makes it never apply; one that has ended is history and stays.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from oncall import homes
from oncall.actors import check_actor
from oncall.catalog.service import get_rotation
from oncall.errors import InvalidRequest, UnknownEntity
from oncall.rotations.models import Override
from oncall.rotations.permissions import active_person, active_rotation, aware, require_permission


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
    rotation = active_rotation(session=session, rotation_id=rotation_id)
    active_person(session=session, person_id=person_id, field="person_id")
    by = check_actor(session=session, by=by)
    require_permission(
        session=session,
        rotation=rotation,
        by=by,
        allowed={person_id},
        what="add overrides for others",
    )
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
    homes.refresh_rotation(session=session, rotation_id=rotation_id, now=now)
    return override


def override_dict(o: Override) -> dict[str, Any]:
    """An override as JSON for the API and `--json`."""
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
        session=session,
        rotation=rotation,
        by=by,
        allowed={override.person_id, override.created_by},
        what="remove it",
    )
    override.removed_at = now
    override.removed_by = by
    if override.starts_at < now:
        override.ends_at = now
    session.add(override)
    session.flush()
    homes.refresh_rotation(session=session, rotation_id=override.rotation_id, now=now)
    return override
