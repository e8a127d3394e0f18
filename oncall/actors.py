"""Who acts: a person of the catalog, named by id (`by`), or a system actor.

Every change records its actor. The one check of an actor is `check_actor`, which the HTTP
routers, the command line and the domain functions that take `by` all call.
"""

from __future__ import annotations

from sqlmodel import Session

from oncall.catalog.models import Person
from oncall.errors import InvalidRequest

# Actors that are not people: a token-authenticated API caller, the local command line, the
# Slack app (which names the person when it knows them), the scheduler.
SYSTEM_ACTORS = frozenset({"api", "cli", "slack", "system"})


def check_actor(*, session: Session, by: str) -> str:
    """`by` when it is a system actor or a person id of the catalog; InvalidRequest (on the
    field `by`) otherwise: the request is refused, the person is not created."""
    if by in SYSTEM_ACTORS or session.get(Person, by) is not None:
        return by
    raise InvalidRequest(f"unknown person {by!r} (by)", field="by")
