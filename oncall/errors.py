"""Domain errors: one family, mapped once for HTTP, once for the CLI (and for Slack)."""

from __future__ import annotations


class DomainError(Exception):
    """Something a caller asked for that the domain refuses; never a bug of ours."""


class UnknownEntity(DomainError, LookupError):
    """HTTP 404."""


class InvalidRequest(DomainError, ValueError):
    """HTTP 422."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class NotAllowed(DomainError, PermissionError):
    """HTTP 403."""


class Conflict(DomainError):
    """HTTP 409."""
