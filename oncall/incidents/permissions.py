"""Who may change an incident by hand: anyone in the catalog acknowledges; resolving and
escalating are for the members of the incident's rotation and the leads of its team."""

from __future__ import annotations

from sqlmodel import Session

from oncall.actors import SYSTEM_ACTORS
from oncall.catalog.models import Rotation, Team
from oncall.errors import NotAllowed
from oncall.incidents.models import Incident
from oncall.rotations.permissions import rotation_members


def who_may_manage(*, session: Session, incident: Incident) -> set[str]:
    """Person ids that may resolve or escalate `incident`."""
    allowed: set[str] = set()
    rotation = session.get(Rotation, incident.rotation_id) if incident.rotation_id else None
    if rotation is not None:
        allowed |= rotation_members(rotation)
    team_id = incident.team_id or (rotation.team_id if rotation else None)
    team = session.get(Team, team_id) if team_id else None
    if team is not None:
        allowed |= set(team.leads)
    return allowed


def require_incident_permission(
    *, session: Session, incident: Incident, by: str, what: str
) -> None:
    """NotAllowed, naming who may, unless `by` is a member of the rotation, a team lead or a
    system actor (the API behind its token, the command line)."""
    if by in SYSTEM_ACTORS:
        return
    allowed = who_may_manage(session=session, incident=incident)
    if by in allowed:
        return
    where = f"rotation {incident.rotation_id}" if incident.rotation_id else "its rotation"
    names = ", ".join(sorted(allowed)) or "nobody (the incident has no rotation or team)"
    raise NotAllowed(
        f"only members of {where} and the team's leads may {what} incident {incident.id} ({names})"
    )
