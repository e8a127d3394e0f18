"""POST /slack/events: every request from Slack (commands, interactivity, events)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

router = APIRouter(tags=["slack"])


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request) -> None:
    settings = request.app.state.settings
    if settings.slack_bot_token is None or settings.slack_signing_secret is None:
        # Without credentials no Bolt app is built (it would call auth.test at start-up).
        raise HTTPException(
            503, "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"
        )
    raise HTTPException(503, "the Slack app is not available in this version yet")
