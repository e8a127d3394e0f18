"""Who may change a rotation, and what a change may name: the checks that overrides and
swaps pass before they change anything.

Who acts (`by`) is checked once, by `oncall.actors.check_actor`; here is what they may do.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from oncall.actors import SYSTEM_ACTORS
from oncall.catalog.models import Person, Rotation, Team
from oncall.catalog.service import get_person, get_rotation
from oncall.errors import InvalidRequest, NotAllowed


def rotation_members(rotation: Rotation) -> set[str]:
    """Everyone named in any layer of the rotation."""
    return {m for layer in rotation.layers for m in layer.get("members", [])}


def require_member_or_lead(*, session: Session, rotation: Rotation, by: str, what: str) -> None:
    """Changes to a rotation from chat are for its members and its team's leads."""
    if by in SYSTEM_ACTORS or by in rotation_members(rotation) or by in _leads(session, rotation):
        return
    allowed = sorted(rotation_members(rotation) | _leads(session, rotation))
    raise NotAllowed(
        f"only members of rotation {rotation.id} and its team's leads may {what} "
        f"({', '.join(allowed)})"
    )


def _leads(session: Session, rotation: Rotation) -> set[str]:
    team = session.get(Team, rotation.team_id)
    return set(team.leads) if team else set()


def require_permission(
    *, session: Session, rotation: Rotation, by: str, allowed: set[str], what: str
) -> None:
    """People act only on what concerns them, or as a lead of the rotation's team; the API
    (behind its token) and the local command line act for anyone."""
    if by in SYSTEM_ACTORS or by in allowed or by in _leads(session, rotation):
        return
    raise NotAllowed(f"{by!r} may not {what}: only {', '.join(sorted(allowed))} or a team lead")


def active_rotation(*, session: Session, rotation_id: str) -> Rotation:
    """The rotation a change is for; a retired one takes no new overrides or swaps."""
    rotation = get_rotation(session=session, rotation_id=rotation_id)
    if rotation.retired_at is not None:
        raise InvalidRequest(f"rotation {rotation_id!r} is retired", field="rotation_id")
    return rotation


def active_person(*, session: Session, person_id: str, field: str) -> Person:
    """A person a change names (`field` of the request); a retired one cannot be named."""
    person = get_person(session=session, person_id=person_id)
    if person.retired_at is not None:
        raise InvalidRequest(f"person {person_id!r} is retired", field=field)
    return person


def aware(value: datetime, field: str) -> datetime:
    """`value` itself, refused without a UTC offset: a naive time would be a guess."""
    if value.tzinfo is None:
        raise InvalidRequest(f"{field}: {value.isoformat()} has no UTC offset", field=field)
    return value
