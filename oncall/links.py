"""Absolute links into the service, from ONCALL_PUBLIC_URL: what Slack, PagerDuty and the
dashboard point people to."""

from __future__ import annotations

from oncall.config import Settings


def public_base(settings: Settings) -> str:
    return settings.public_url.rstrip("/")


def incident_url(settings: Settings, incident_id: int | None) -> str:
    """The incident page, `GET /incidents/{id}`."""
    return f"{public_base(settings)}/incidents/{incident_id}"
