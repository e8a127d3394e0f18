"""Talking to the Slack Web API: what its errors mean for the outbox (retry, or refused with
the fix an operator applies), and the pacing of new messages per channel."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from datetime import timedelta
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError

from oncall.outbox import PermanentDeliveryError, RetryableDeliveryError

# Slack lets an app post about one message per second in a channel.
POST_INTERVAL_SECONDS = 1.0


class Call(Protocol):
    """What an error message names: the Web API method and the channel."""

    @property
    def method(self) -> str: ...

    @property
    def channel(self) -> str | None: ...


# --- errors ----------------------------------------------------------------------------------

# Slack's own word that it is busy or failing: try again later.
RETRY_ERRORS = frozenset(
    {
        "ratelimited",
        "message_limit_exceeded",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
    }
)


def fix_for(error: str, channel: str | None, row_id: int) -> str:
    """What an operator does about a refusal, shown on the incident."""
    where = channel or "the channel"
    retry = f"then `oncall outbox retry {row_id}`"
    fixes = {
        "not_in_channel": f"invite the bot to {where}: type `/invite @oncall` there, {retry}",
        "channel_not_found": (
            f"channel {where} not found: set the team's `slack_channel` in oncall.yaml to a "
            f"channel id the bot can see (invite it to private channels), {retry}"
        ),
        "is_archived": f"channel {where} is archived: set another `slack_channel`, {retry}",
        "invalid_auth": f"SLACK_BOT_TOKEN is not valid: set the bot token, {retry}",
        "not_authed": f"SLACK_BOT_TOKEN is missing: set the bot token, {retry}",
        "account_inactive": f"the bot's token was revoked or its app removed: reinstall, {retry}",
        "token_revoked": f"the bot's token was revoked: reinstall the app, {retry}",
        "token_expired": f"the bot's token expired: reinstall the app, {retry}",
        "missing_scope": f"the bot lacks a scope (see deploy/slack/manifest.yml), {retry}",
        "msg_too_long": "the message was too long for Slack; see the incident page",
        "message_not_found": "the Slack message was deleted; the incident page has it all",
        "cant_update_message": "the Slack message can no longer be edited by the bot",
        "restricted_action": f"the workspace does not let the bot post in {where}",
    }
    return fixes.get(error, f"Slack refused the call ({error}), {retry}")


def classify(exc: SlackApiError, call: Call, row_id: int) -> Exception:
    """A Web API error as the outbox understands it: retry (429, 5xx, busy) or refused."""
    response = exc.response
    status = int(response.status_code or 0)
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or f"http_{status}")
    if status == 429 or error in ("ratelimited", "rate_limited"):
        retry_after = _retry_after(response.headers)
        return RetryableDeliveryError(
            f"Slack {call.method}: rate limited (429), Retry-After {retry_after}",
            retry_after=retry_after,
        )
    if status >= 500 or error in RETRY_ERRORS or error.startswith("http_5"):
        return RetryableDeliveryError(f"Slack {call.method}: {error} (HTTP {status})")
    return PermanentDeliveryError(
        f"Slack {call.method} to {call.channel or '?'}: {error} — "
        f"{fix_for(error, call.channel, row_id)}"
    )


def _retry_after(headers: Mapping[str, Any] | None) -> timedelta:
    value: Any = None
    for key, raw in (headers or {}).items():
        if key.lower() == "retry-after":
            value = raw[0] if isinstance(raw, list) and raw else raw
    try:
        return timedelta(seconds=max(int(float(str(value))), 1))
    except (TypeError, ValueError):
        return timedelta(seconds=1)


# --- pacing ----------------------------------------------------------------------------------


class Pacer:
    """About one new message per second per channel, as Slack allows."""

    def __init__(
        self,
        interval: float = POST_INTERVAL_SECONDS,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self.monotonic = monotonic
        self.sleep = sleep
        self._last: MutableMapping[str, float] = {}
        self._guard = threading.Lock()

    def wait(self, channel: str) -> None:
        with self._guard:
            now = self.monotonic()
            ready = self._last.get(channel, now - self.interval) + self.interval
            self._last[channel] = max(now, ready)
        if ready > now:
            self.sleep(ready - now)
