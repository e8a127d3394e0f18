"""POST /api/v1/pagerduty/webhook: PagerDuty's v3 webhooks, signed with the subscription's
secret (`X-PagerDuty-Signature`). `incident.acknowledged` and `incident.resolved` for one of
our incidents act on it; anything else is answered 2xx and changes nothing (PagerDuty retries
and eventually disables a subscription that keeps failing)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine

from oncall.api.webhook import read_body_limited
from oncall.clock import Clock
from oncall.config import Settings
from oncall.db import serialized_writes, session_scope
from oncall.incidents.pager_sync import apply_pager_change
from oncall.integrations.pagerduty import UnreadableWebhook, read_webhook, signature_valid

log = logging.getLogger(__name__)
router = APIRouter(tags=["pagerduty"])

# The v3 event types that act here, and what they do.
ACTIONS = {"incident.acknowledged": "acknowledged", "incident.resolved": "resolved"}


def _apply(engine: Engine, clock: Clock, action: str, key: str | None, agent: str | None) -> str:
    with serialized_writes(engine), session_scope(engine) as session:
        return apply_pager_change(session=session, action=action, key=key, agent=agent, now=clock())


@router.post("/api/v1/pagerduty/webhook", summary="PagerDuty webhooks (v3)")
async def pagerduty_webhook(request: Request) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    if settings.pagerduty_webhook_secret is None:
        raise HTTPException(
            503,
            "PagerDuty webhooks are not configured: set PAGERDUTY_WEBHOOK_SECRET to the "
            "subscription's signing secret",
        )
    body = await read_body_limited(request, settings.max_body_bytes)
    secret = settings.pagerduty_webhook_secret.get_secret_value()
    if not signature_valid(body, request.headers.get("x-pagerduty-signature"), secret):
        raise HTTPException(
            401, "missing or wrong X-PagerDuty-Signature (PAGERDUTY_WEBHOOK_SECRET)"
        )
    try:
        event = read_webhook(body)
    except UnreadableWebhook as exc:
        raise HTTPException(400, str(exc)) from None
    action = ACTIONS.get(event.event_type)
    if action is None:
        return {"outcome": f"ignored: {event.event_type or 'no event_type'}"}
    outcome = await run_in_threadpool(
        _apply,
        request.app.state.engine,
        request.app.state.clock,
        action,
        event.incident_key,
        event.agent,
    )
    log.info("PagerDuty webhook %s: %s", event.event_type, outcome)
    return {"outcome": outcome}
