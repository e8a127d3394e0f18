"""Absolute links into the service, from ONCALL_PUBLIC_URL: what Slack, PagerDuty and the
dashboard point people to."""

from __future__ import annotations

from urllib.parse import quote

from oncall.config import Settings


def public_base(settings: Settings) -> str:
    return settings.public_url.rstrip("/")


def incident_url(settings: Settings, incident_id: int | None) -> str:
    """The incident page, `GET /incidents/{id}`."""
    return f"{public_base(settings)}/incidents/{incident_id}"


def rca_url(settings: Settings, incident_id: int | None) -> str:
    return f"{public_base(settings)}/rca/{incident_id}"


def dashboard_url(settings: Settings) -> str:
    return f"{public_base(settings)}/"


def slack_channel_url(channel_id: str | None) -> str | None:
    """Where a posted Slack message's channel opens, through Slack's redirect (a message
    permalink needs the workspace's domain; the channel is one click from it)."""
    if not channel_id:
        return None
    return f"https://slack.com/app_redirect?channel={quote(channel_id, safe='')}"
