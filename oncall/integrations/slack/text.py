"""Text for Slack: mrkdwn escaping, Block Kit limits, safe links, mentions and dates.

Everything that came from an alert (titles, labels, annotations, URLs) passes through here
before it reaches a block, so `<!channel>` or `<@U123>` in an annotation is shown, never
acted on."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from oncall import links
from oncall.catalog.models import Person

# Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_BUTTON_LABEL = 75
MAX_HEADER = 150
MAX_CONTEXT_TEXT = 2000
MAX_BUTTONS = 25  # elements of one actions block
MAX_BUTTON_URL = 3000
MAX_FALLBACK_TEXT = 4000  # the `text` of a message with blocks: notifications and fallbacks

ELLIPSIS = "…"
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")


def escape(text: str) -> str:
    """mrkdwn control characters as entities: `&`, `<`, `>` (Slack's three)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def one_line(text: str) -> str:
    """Alert text on one line: a newline in a label must not start a forged line."""
    return " ".join(text.split())


def truncate(text: str, limit: int, *, more: str = "") -> str:
    """`text` cut to `limit` characters, ending in `…` (and `more`, e.g. a link) when cut.

    Never cuts inside an entity such as `&amp;` or inside a `<…>` link/mention that the
    builder itself made."""
    if len(text) <= limit:
        return text
    tail = ELLIPSIS + (f" {more}" if more else "")
    keep = max(limit - len(tail), 0)
    cut = text[:keep]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    lt = cut.rfind("<")
    if lt != -1 and ">" not in cut[lt:]:
        cut = cut[:lt]
    return (cut + tail)[:limit]


def plain(text: str, limit: int) -> str:
    """Text for a `plain_text` object (button labels, headers): no escaping, cut to limit."""
    return truncate(one_line(text), limit) or "-"


def safe_url(url: str | None, *, base: str | None = None) -> str | None:
    """An http(s) URL fit for a link, or None (see `oncall.links.safe_url`)."""
    found = links.safe_url(url, base=base)
    if found is None or len(found) > MAX_BUTTON_URL:
        return None
    return found


def link(url: str | None, label: str, *, base: str | None = None) -> str:
    """`<url|label>` with an escaped label, or the escaped label alone for an unsafe URL."""
    target = safe_url(url, base=base)
    shown = escape(one_line(label)).replace("|", "¦")
    if target is None:
        return shown
    return f"<{target.replace('&', '&amp;')}|{shown}>"


def mention(slack_user: str | None, name: str | None) -> str:
    """A real mention `<@U…>` for a person with a Slack user id, else their escaped name."""
    if slack_user and _SLACK_USER.match(slack_user):
        return f"<@{slack_user}>"
    return escape(one_line(name or "someone"))


def person_mention(person: Person | None, person_id: str | None) -> str:
    """A catalog person id as Slack shows it: their mention or name, the escaped id of a
    person the catalog does not know, or `nobody`."""
    if person is None:
        return "nobody" if person_id is None else escape(one_line(person_id))
    return mention(person.slack_user, person.name)


def date(when: datetime, *, token: str = "{date_short_pretty} at {time}") -> str:
    """A date each reader sees in their own time zone, with a UTC fallback."""
    when = when.astimezone(UTC)
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(when.timestamp())}^{token}|{fallback}>"


def relative(when: datetime, now: datetime) -> str:
    """How long ago, as of `now`: `just now`, `12 min ago`, `3 h 5 min ago`, `2 d ago`."""
    seconds = int((now - when).total_seconds())
    if seconds < 60:
        return "just now"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min ago"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min ago" if minutes else f"{hours} h ago"
    return f"{hours // 24} d ago"
