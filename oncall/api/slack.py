"""POST /slack/events: every request from Slack (commands, interactivity, events).

The Bolt app verifies the signature (401 for a missing, bad or stale one) and answers; its
listeners run on a worker thread, so a database lookup never holds the event loop."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

router = APIRouter(tags=["slack"])


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request) -> Response:
    slack_app = getattr(request.app.state, "slack_app", None)
    if slack_app is None:
        # Without credentials no Bolt app is built (it would call auth.test at start-up).
        raise HTTPException(
            503, "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"
        )
    from slack_bolt import BoltRequest

    body = await request.body()
    bolt_request = BoltRequest(
        body=body.decode("utf-8", errors="replace"),
        query=request.url.query,
        headers=dict(request.headers),
    )
    answer = await run_in_threadpool(slack_app.dispatch, bolt_request)
    return Response(
        status_code=answer.status,
        content=answer.body,
        headers=answer.first_headers_without_set_cookie(),
    )
