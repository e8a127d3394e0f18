"""Rotation domain errors; the CLI and the HTTP routers turn them into messages and 4xx."""

from __future__ import annotations

from oncall.catalog.service import UnknownEntity


class InvalidRequest(ValueError):
    """The request names things that exist but asks for something that cannot be done
    (an override ending before it starts, a swap of a shift nobody holds). HTTP 422."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class NotAllowed(PermissionError):
    """The acting person may not do this (only the people involved or a team lead). HTTP 403."""


__all__ = ["InvalidRequest", "NotAllowed", "UnknownEntity"]
