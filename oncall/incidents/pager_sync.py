"""Changes made in the pager (PagerDuty's app) applied here: an ack or a resolve there acts on
the incident whose key it carries, recorded with the responder as the actor, and the Slack
message follows through the usual flow. Nothing is echoed back to the pager."""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session

from oncall.errors import Conflict
from oncall.incidents import service
from oncall.incidents.models import Incident

_KEY = re.compile(r"^oncall-(\d{1,18})$")
ACTOR_LIMIT = 120


def incident_id_of_key(key: str | None) -> int | None:
    """`oncall-<id>` (flows.pagerduty_dedup_key) -> id; None for a key that is not ours."""
    match = _KEY.match(key or "")
    return int(match.group(1)) if match else None


def pager_actor(agent: str | None) -> str:
    return f"pagerduty: {agent.strip()}"[:ACTOR_LIMIT] if agent else "pagerduty"


def apply_pager_change(
    *, session: Session, action: str, key: str | None, agent: str | None, now: datetime
) -> str:
    """`action` is `acknowledged` or `resolved`; returns what happened, in words. An unknown
    key, or a change the incident has moved past, changes nothing and is not an error (the
    pager would retry an error)."""
    incident_id = incident_id_of_key(key)
    incident = session.get(Incident, incident_id) if incident_id is not None else None
    if incident_id is None or incident is None:
        return "ignored: not one of our incidents"
    if action not in ("acknowledged", "resolved"):
        return f"ignored: {action}"
    before = incident.status
    by = pager_actor(agent)
    try:
        if action == "acknowledged":
            incident = service.acknowledge(
                session=session, incident_id=incident_id, by=by, now=now, tell_pagerduty=False
            )
        else:
            incident = service.resolve(
                session=session, incident_id=incident_id, by=by, now=now, tell_pagerduty=False
            )
    except Conflict as exc:
        return f"ignored: {exc}"
    if incident.status == before:
        return f"ignored: incident {incident_id} is already {before}"
    return f"incident {incident_id} {incident.status} by {by}"
