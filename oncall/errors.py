"""The errors domain code raises when it refuses a request, one family for every domain.

The edges map the family once each: HTTP in `oncall.app` (404, 422, 403, 409), the command
line in `oncall.commands.common.domain_errors` (`error: <message>`, exit code 1). `str(error)`
is the reason, a short sentence for the person who asked, shown as it is by every edge.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses; its message says why."""


class UnknownEntity(DomainError, LookupError):
    """An id that names nothing: a team, person, rotation, override, swap, incident... (404)."""

    def __init__(self, kind: str, entity_id: str, *, message: str | None = None) -> None:
        self.kind = kind
        self.entity_id = entity_id
        super().__init__(message or f"unknown {kind} {entity_id!r}")


class InvalidRequest(DomainError, ValueError):
    """The request names things that exist but asks for something that cannot be done
    (an override ending before it starts, a swap of a shift nobody holds, an unknown actor).
    `field` names the part of the request at fault, when one is. (422)"""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class NotAllowed(DomainError):
    """The acting person may not do this (only the people involved or a team lead). (403)"""


class Conflict(DomainError):
    """The request is valid but the current state refuses it, e.g. acknowledging a resolved
    incident. (409)"""


__all__ = ["Conflict", "DomainError", "InvalidRequest", "NotAllowed", "UnknownEntity"]
