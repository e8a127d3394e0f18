"""POST /slack/events: every request from Slack (commands, interactivity, events).

The Bolt app verifies the signature (401 for a missing, bad or stale one) and answers. Its
listeners run on a small pool of their own (one thread a core), so a database lookup or a
wait for SQLite's write lock never holds the event loop, and 20 requests at once do not
fight over the interpreter in 20 threads (bench/bench_slack_commands.py)."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

router = APIRouter(tags=["slack"])


@lru_cache(maxsize=1)
def _listeners() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="slack-ack")


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
    loop = asyncio.get_running_loop()
    answer = await loop.run_in_executor(_listeners(), slack_app.dispatch, bolt_request)
    return Response(
        status_code=answer.status,
        content=answer.body,
        headers=answer.first_headers_without_set_cookie(),
    )
