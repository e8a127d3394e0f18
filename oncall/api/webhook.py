"""POST /api/v1/alerts/alertmanager: validate, then store everything in one transaction, then 200.

Alertmanager retries on 5xx and timeouts but never on 4xx, so a 4xx is reserved for bodies
that can never succeed, and anything temporary on our side answers 503.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from oncall.api.deps import require_webhook_token
from oncall.db import (
    is_database_busy,
    serialized_writes,
    wait_briefly_for_write_lock,
    write_lock,
)
from oncall.incidents.alertmanager import EXAMPLE_PAYLOAD, AlertmanagerPayload
from oncall.incidents.ingest import IngestResult, ingest_alertmanager

log = logging.getLogger(__name__)
router = APIRouter(tags=["alerts"])


async def read_body_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body of {declared} bytes is over the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_payload(body: bytes) -> AlertmanagerPayload:
    """JSON and shape in one pass (pydantic-core parses the bytes itself)."""
    try:
        return AlertmanagerPayload.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors()
        if errors and errors[0]["type"] == "json_invalid":
            raise HTTPException(400, f"body is not JSON: {errors[0]['msg']}") from None
        if errors and errors[0]["type"] == "model_type" and not errors[0]["loc"]:
            raise HTTPException(
                422, "body must be a JSON object (an Alertmanager webhook payload)"
            ) from None
        reasons = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in errors[:20]
        ]
        raise HTTPException(
            422, {"reason": "not an Alertmanager webhook payload", "errors": reasons}
        ) from None


@router.post(
    "/api/v1/alerts/alertmanager",
    dependencies=[Depends(require_webhook_token)],
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"example": EXAMPLE_PAYLOAD}},
            "required": True,
        }
    },
    summary="Alertmanager webhook (version 4)",
)
async def alertmanager_webhook(request: Request) -> dict[str, Any]:
    started = time.perf_counter()
    metrics = request.app.state.metrics
    code = 500
    try:
        body = await read_body_limited(request, request.app.state.settings.max_body_bytes)
        payload = parse_payload(body)
        result = await _store_soon(request, payload)
        code = 200
    except HTTPException as exc:
        code = exc.status_code
        raise
    finally:
        metrics.webhook_requests.labels(str(code)).inc()
        metrics.webhook_seconds.observe(time.perf_counter() - started)
    firing = sum(1 for alert in payload.alerts if alert.status == "firing")
    if firing:
        metrics.alerts_received.labels("firing").inc(firing)
    if len(payload.alerts) - firing:
        metrics.alerts_received.labels("resolved").inc(len(payload.alerts) - firing)
    return {
        "incident_id": result.incident_id,
        "outcome": result.outcome,
        "new_alerts": result.new_alerts,
        "resolved_alerts": result.resolved_alerts,
        "warnings": result.warnings,
    }


# How long the event loop may wait for another SQLite writer before the ingest moves to a thread.
INLINE_LOCK_WAIT_MS = 20
# Larger deliveries are stored in a thread: the loop is never held for long (about 25 us an alert).
INLINE_MAX_ALERTS = 1000


class _WriterBusy(Exception):
    """Another writer holds SQLite: the inline attempt stepped back (nothing was written)."""


async def _store_soon(request: Request, payload: AlertmanagerPayload) -> IngestResult:
    """Store a delivery: on SQLite on the event loop itself when nobody else is writing and
    the delivery is not large, otherwise (and always on PostgreSQL) in a worker thread.

    Why: SQLite takes one writer at a time, and an ingest is Python work that holds the GIL.
    In a thread it gains no parallelism and pays a GIL hand-off around every SQLite call while
    the loop receives the next deliveries (bench/README.md: 48-55% of the baseline's rate in a
    thread, 73-83% on the loop). Inline, the loop is held for the ingest itself (milliseconds)
    and never for someone else's lock: it waits at most INLINE_LOCK_WAIT_MS for SQLite's write
    lock, and not at all for this process's, before stepping back to a thread that may wait
    longer. PostgreSQL waits on the network, where threads do run in parallel."""
    stores = request.app.state.metrics.webhook_stores
    lock = write_lock(request.app.state.engine)
    if (
        lock is not None
        and len(payload.alerts) <= INLINE_MAX_ALERTS
        and lock.acquire(blocking=False)
    ):
        try:
            result = _store(request, payload, inline=True)
            stores.labels("event_loop").inc()
            return result
        except _WriterBusy:
            pass
        finally:
            lock.release()
    result = await run_in_threadpool(_store_queued, request, payload)
    stores.labels("thread").inc()
    return result


def _store_queued(request: Request, payload: AlertmanagerPayload) -> IngestResult:
    with serialized_writes(request.app.state.engine):
        return _store(request, payload)


def _store(request: Request, payload: AlertmanagerPayload, *, inline: bool = False) -> IngestResult:
    """One transaction; the caller holds this process's SQLite write lock."""
    engine = request.app.state.engine
    settings = request.app.state.settings
    # Two deliveries of one new group can race to open it: the loser retries and joins.
    for attempt in range(3):
        with Session(engine, expire_on_commit=False) as session:
            try:
                if inline:
                    wait_briefly_for_write_lock(session, INLINE_LOCK_WAIT_MS)
                result = ingest_alertmanager(
                    session=session,
                    payload=payload,
                    now=request.app.state.clock(),
                    flap_window=settings.flap_window,
                )
                session.commit()
                return result
            except IntegrityError:
                session.rollback()
                log.info("webhook: group opened concurrently by another delivery; joining it")
                if attempt == 2:
                    raise HTTPException(
                        503, "concurrent update; retry", headers={"Retry-After": "1"}
                    ) from None
            except OperationalError as exc:
                session.rollback()
                if inline and is_database_busy(exc):
                    raise _WriterBusy from None
                log.warning(
                    "webhook: database unavailable (%s); answering 503", type(exc.orig).__name__
                )
                raise HTTPException(
                    503, "database unavailable; retry later", headers={"Retry-After": "5"}
                ) from None
    raise AssertionError("unreachable")
