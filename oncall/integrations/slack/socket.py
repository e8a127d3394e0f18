"""Socket Mode: with `SLACK_APP_TOKEN` (xapp-…) set, the same Bolt app receives Slack's
requests over a WebSocket that it opens itself, so no public URL is needed."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

from oncall.config import Settings

log = logging.getLogger(__name__)


def start_socket_mode(app: App, settings: Settings) -> SocketModeHandler:
    """Connect in the background (`connect`, not the blocking `start`); close() stops it."""
    if settings.slack_app_token is None:
        raise ValueError("SLACK_APP_TOKEN is not set")
    handler = SocketModeHandler(app, app_token=settings.slack_app_token.get_secret_value())
    handler.connect()  # type: ignore[no-untyped-call]
    log.info("Slack: connected in Socket Mode")
    return handler
