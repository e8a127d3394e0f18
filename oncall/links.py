"""Absolute links into the service, from ONCALL_PUBLIC_URL: what Slack, PagerDuty and the
dashboard point people to."""

from __future__ import annotations

import re
from urllib.parse import quote, urljoin, urlsplit

from oncall.config import Settings


def public_base(where: Settings | str) -> str:
    """ONCALL_PUBLIC_URL (from the settings, or as given) without its trailing slash."""
    return (where if isinstance(where, str) else where.public_url).rstrip("/")


def incident_url(where: Settings | str, incident_id: int | None) -> str:
    """The incident page, `GET /incidents/{id}`."""
    return f"{public_base(where)}/incidents/{incident_id}"


def rca_url(where: Settings | str, incident_id: int | None) -> str:
    """The RCA page, `GET /rca/{id}`."""
    return f"{public_base(where)}/rca/{incident_id}"


def rca_markdown_url(where: Settings | str, incident_id: int | None) -> str:
    """The RCA as Markdown, `GET /rca/{id}.md`."""
    return f"{rca_url(where, incident_id)}.md"


def dashboard_url(where: Settings | str) -> str:
    return f"{public_base(where)}/"


def slack_channel_url(channel_id: str | None) -> str | None:
    """Where a posted Slack message's channel opens, through Slack's redirect (a message
    permalink needs the workspace's domain; the channel is one click from it)."""
    if not channel_id:
        return None
    return f"https://slack.com/app_redirect?channel={quote(channel_id, safe='')}"


# Characters that would end a link early (Slack's `<url|label>`, an HTML attribute, a
# Markdown link) or hide in it (control characters): quoted, never passed through.
_UNSAFE_IN_LINK = re.compile(r"[\s<>|\"'\x00-\x1f\x7f]")


def safe_url(url: str | None, *, base: str | None = None) -> str | None:
    """An http(s) URL fit for a link, or None: links rendered from alert data keep only
    http and https. A relative URL (a runbook such as `runbooks/model-drift.md`) resolves
    against `base` (ONCALL_PUBLIC_URL); a scheme-relative one (`//host/x`) names another
    host and is not resolved. Something that does not parse as a URL is None."""
    if not url:
        return None
    url = url.strip()
    try:
        if base and not urlsplit(url).scheme and not url.startswith("//"):
            url = urljoin(base.rstrip("/") + "/", url)
        parts = urlsplit(url)
    except ValueError:  # e.g. `http://[::1` (an unclosed IPv6 host)
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return _UNSAFE_IN_LINK.sub(lambda m: quote(m.group(0)), url)
