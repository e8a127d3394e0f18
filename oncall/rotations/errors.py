"""Rotation errors: the shared family of `oncall.errors`, importable from here as before."""

from __future__ import annotations

from oncall.errors import InvalidRequest, NotAllowed, UnknownEntity

__all__ = ["InvalidRequest", "NotAllowed", "UnknownEntity"]
