"""POST /api/v1/alerts/alertmanager: read, then store everything in one transaction, then 200.

On SQLite that transaction may be shared with the deliveries that arrived at the same moment
(group commit, `_store_soon`); each is still answered only after the commit.

Alertmanager retries on 5xx and timeouts but never on 4xx, so a 4xx is reserved for an envelope
that can never be read (not JSON: 400; not an object or no `alerts` list: 422; over the body
limit: 413; no token: 401). Malformed alerts inside a usable envelope are repaired or left out
(see oncall/incidents/alertmanager.py), counted and logged, and the rest is stored and answered
200. Anything temporary on our side answers 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from oncall.api.deps import require_webhook_token
from oncall.db import (
    is_database_busy,
    serialized_writes,
    wait_briefly_for_write_lock,
    write_lock,
)
from oncall.errors import DomainError
from oncall.incidents.alertmanager import (
    EXAMPLE_PAYLOAD,
    SUPPORTED_VERSION,
    AlertmanagerPayload,
    Delivery,
    UnusableDelivery,
    read_delivery,
)
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


def parse_delivery(body: bytes, now: datetime) -> Delivery:
    """The envelope must be usable (else 400/422); its alerts are read one by one."""
    try:
        return read_delivery(body, now=now)
    except UnusableDelivery as exc:
        raise HTTPException(400 if exc.kind == "not_json" else 422, exc.reason) from None


@router.post(
    "/api/v1/alerts/alertmanager",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"example": EXAMPLE_PAYLOAD}},
            "required": True,
        }
    },
    summary="Alertmanager webhook (version 4)",
)
async def alertmanager_webhook(request: Request) -> Response:
    """The answer is JSON written here (orjson), as FastAPI would write the same dict."""
    await require_webhook_token(request)  # before anything is read (a plain call: no solver)
    started = time.perf_counter()
    metrics = request.app.state.metrics
    code = 500
    try:
        body = await read_body_limited(request, request.app.state.settings.max_body_bytes)
        delivery = parse_delivery(body, request.app.state.clock())
        payload = delivery.payload
        if payload is not None:
            result = await _store_soon(request, payload)
        else:
            result = IngestResult(None, "ignored")
        code = 200
    except HTTPException as exc:
        code = exc.status_code
        raise
    finally:
        metrics.webhook_requests.labels(str(code)).inc()
        metrics.webhook_seconds.observe(time.perf_counter() - started)
    alerts = payload.alerts if payload is not None else []
    firing = sum(1 for alert in alerts if alert.status == "firing")
    if firing:
        metrics.alerts_received.labels("firing").inc(firing)
    if len(alerts) - firing:
        metrics.alerts_received.labels("resolved").inc(len(alerts) - firing)
    _report(request, delivery, payload)
    answer = {
        "incident_id": result.incident_id,
        "outcome": result.outcome,
        "new_alerts": result.new_alerts,
        "resolved_alerts": result.resolved_alerts,
        "rejected": delivery.rejected_count,
        "rejected_reasons": {str(k): v for k, v in delivery.rejected.items()},
        "warnings": result.warnings + delivery.warnings,
    }
    return Response(orjson.dumps(answer), media_type="application/json")


# Versions already logged: a newer Alertmanager would otherwise log one line a delivery.
_versions_seen: set[str] = set()


def _report(request: Request, delivery: Delivery, payload: AlertmanagerPayload | None) -> None:
    """Count and log what was left out or repaired (once the delivery is stored: a retry after
    a 503 would otherwise count it twice). Alert text is logged with %r: no forged lines."""
    group = payload.groupKey[:200] if payload is not None else None
    version = delivery.version
    if version != SUPPORTED_VERSION and version not in _versions_seen and len(_versions_seen) < 32:
        _versions_seen.add(version)
        log.warning(
            "webhook: Alertmanager webhook version %r (not %s), read as version %s",
            version[:40],
            SUPPORTED_VERSION,
            SUPPORTED_VERSION,
        )
    rejected = request.app.state.metrics.alerts_rejected
    for reason, number in delivery.rejected.items():
        rejected.labels(str(reason)).inc(number)
    for example in delivery.rejected_examples:
        log.warning(
            "webhook: alert %d of group %r not stored (%s): %r",
            example.index,
            group,
            example.reason,
            example.excerpt,
        )
    if delivery.rejected_count > len(delivery.rejected_examples):
        log.warning(
            "webhook: %d more alerts of group %r not stored",
            delivery.rejected_count - len(delivery.rejected_examples),
            group,
        )
    if delivery.warnings:
        log.warning(
            "webhook: group %r read with repairs: %r%s",
            group,
            delivery.warnings[:5],
            " (and more)" if len(delivery.warnings) > 5 else "",
        )


# How long the event loop may wait for another SQLite writer before the ingest moves to a thread.
INLINE_LOCK_WAIT_MS = 20
# How long the loop may queue behind this process's own writers (the outbox worker's short
# claim and record transactions, another delivery in a thread) before the delivery moves to a
# thread. Waiting here costs the loop nothing it could use (only one writer can go at a time),
# while a shorter wait sent most deliveries of a burst to threads, each then holding the lock
# for the next (bench/README.md).
INLINE_QUEUE_WAIT_SECONDS = 0.05
# Larger deliveries are stored in a thread: the loop is never held for long (about 25 us an alert).
INLINE_MAX_ALERTS = 1000
# Group commit: deliveries that arrive while the loop is busy are stored together, in one
# transaction, up to this many deliveries and INLINE_MAX_ALERTS alerts.
GROUP_MAX_DELIVERIES = 64


class _WriterBusy(Exception):
    """Another writer holds SQLite: the inline attempt stepped back (nothing was written)."""


@dataclass
class _Waiting:
    """A delivery queued for the next group commit, and where its answer goes."""

    payload: AlertmanagerPayload
    answer: asyncio.Future[IngestResult | None]  # None: store it in a thread instead


@dataclass
class _GroupCommit:
    """The deliveries of one app waiting on its event loop for the next shared transaction."""

    waiting: list[_Waiting] = field(default_factory=list)
    alerts: int = 0
    scheduled: bool = False
    since: float = 0.0  # loop time when the first of `waiting` was queued


async def _store_soon(request: Request, payload: AlertmanagerPayload) -> IngestResult:
    """Store a delivery: on SQLite on the event loop itself, together with the deliveries that
    arrived meanwhile (group commit), when the delivery is not large; otherwise (another
    process holds SQLite's write lock, a large delivery, and always on PostgreSQL) in a
    worker thread.

    Why: SQLite takes one writer at a time, and an ingest is Python work that holds the GIL.
    In a thread it gains no parallelism and pays a GIL hand-off around every SQLite call while
    the loop receives the next deliveries (bench/README.md: 48-55% of the baseline's rate in a
    thread, 73-83% on the loop). Inline, the loop is held for the ingest itself (milliseconds)
    and hardly for someone else's lock: it waits at most INLINE_LOCK_WAIT_MS for SQLite's write
    lock and INLINE_QUEUE_WAIT_SECONDS for this process's, before stepping back to a thread
    that may wait longer. PostgreSQL waits on the network, where threads do run in parallel.

    Group commit: a delivery is queued, and the queue is stored once the loop has read every
    request that was ready, so a burst shares one transaction (one BEGIN, one COMMIT, one
    connection checkout) instead of paying them per delivery. Each is still answered only
    after that commit. If the shared transaction fails, nothing of it was written, and each
    delivery is stored again on its own, so one bad delivery never costs the others theirs."""
    stores = request.app.state.metrics.webhook_stores
    app = request.app
    if write_lock(app.state.engine) is not None and len(payload.alerts) <= INLINE_MAX_ALERTS:
        group: _GroupCommit | None = getattr(app.state, "group_commit", None)
        if group is None:
            group = app.state.group_commit = _GroupCommit()
        if group.waiting and (
            len(group.waiting) >= GROUP_MAX_DELIVERIES
            or group.alerts + len(payload.alerts) > INLINE_MAX_ALERTS
        ):
            _flush_group(app, group, wait=True)  # full: store what waits, then queue this one
        loop = asyncio.get_running_loop()
        if not group.waiting:
            group.since = loop.time()
        waiting = _Waiting(payload, loop.create_future())
        group.waiting.append(waiting)
        group.alerts += len(payload.alerts)
        if not group.scheduled:
            group.scheduled = True
            # After the callbacks already due: the other requests read in this turn of the
            # loop queue up behind this one before the group is stored.
            loop.call_soon(_flush_group, app, group)
        result = await waiting.answer
        if result is not None:
            stores.labels("event_loop").inc()
            return result
    result = await run_in_threadpool(_store_queued, app, payload)
    stores.labels("thread").inc()
    return result


# While this process's own writer (the outbox worker) holds the write lock, the queued group
# waits this long between tries, and the loop goes on reading requests meanwhile.
GROUP_RETRY_SECONDS = 0.001


def _flush_group(app: Any, group: _GroupCommit, *, wait: bool = False) -> None:
    """Store every queued delivery (on the loop), then answer each: whatever happens, every
    waiting request gets its answer (a result, None for a thread, or an error).

    When this process's write lock is taken, the loop does not block on it: the group is
    tried again shortly (the loop reads more requests meanwhile, which join the group), for up
    to INLINE_QUEUE_WAIT_SECONDS, then every delivery moves to a thread. `wait`: block for
    the lock (up to the same bound) instead."""
    lock = write_lock(app.state.engine)
    assert lock is not None
    loop = asyncio.get_running_loop()
    waited = loop.time() - group.since
    if not lock.acquire(blocking=False):
        if not wait and waited < INLINE_QUEUE_WAIT_SECONDS:
            loop.call_later(GROUP_RETRY_SECONDS, _flush_group, app, group)
            return  # still scheduled: later deliveries join this group
        if not lock.acquire(timeout=max(0.0, INLINE_QUEUE_WAIT_SECONDS - waited)):
            _answer(_take(group), None)  # our own writer is slow: threads wait for it
            return
    try:
        waiting = _take(group)
        if not waiting:
            return
        outcomes: list[IngestResult | Exception | None]
        try:
            outcomes = _store_group(app, [w.payload for w in waiting])
        except Exception as exc:  # a bug: each request answers it as it would have alone
            outcomes = [exc] * len(waiting)
    finally:
        lock.release()
    for w, outcome in zip(waiting, outcomes, strict=True):
        _answer([w], outcome)


def _take(group: _GroupCommit) -> list[_Waiting]:
    """Empty the group; the deliveries still waiting for an answer (a client gone: its task
    was cancelled)."""
    waiting, group.waiting, group.alerts, group.scheduled = group.waiting, [], 0, False
    return [w for w in waiting if not w.answer.done()]


def _answer(waiting: list[_Waiting], outcome: IngestResult | Exception | None) -> None:
    for w in waiting:
        if w.answer.done():
            continue
        if isinstance(outcome, Exception):
            w.answer.set_exception(outcome)
        else:
            w.answer.set_result(outcome)


def _store_group(
    app: Any, payloads: list[AlertmanagerPayload]
) -> list[IngestResult | Exception | None]:
    """Store the group (the caller holds this process's write lock)."""
    if len(payloads) > 1:
        together = _store_together(app, payloads)
        if together == "busy":  # another process writes: nothing was stored, threads wait
            return [None] * len(payloads)
        if together is not None:
            return list(together)
    # One delivery, or the shared transaction failed: each one on its own.
    return [_store_alone(app, payload) for payload in payloads]


def _store_together(
    app: Any, payloads: list[AlertmanagerPayload]
) -> list[IngestResult] | Literal["busy"] | None:
    """All of `payloads` in one transaction. None or "busy" (another process holds SQLite's
    write lock) when it was rolled back: then nothing of it is stored."""
    engine = app.state.engine
    settings = app.state.settings
    with Session(engine, expire_on_commit=False) as session:
        try:
            wait_briefly_for_write_lock(session, INLINE_LOCK_WAIT_MS)
            results = [
                ingest_alertmanager(
                    session=session,
                    payload=payload,
                    now=app.state.clock(),
                    flap_window=settings.flap_window,
                )
                for payload in payloads
            ]
            session.commit()
        except OperationalError as exc:
            session.rollback()
            return "busy" if is_database_busy(exc) else None
        except Exception:  # whatever it was, each delivery meets it (or not) on its own
            session.rollback()
            return None
    return results


def _store_alone(app: Any, payload: AlertmanagerPayload) -> IngestResult | Exception | None:
    """One delivery on the loop: its result, None (another writer: go to a thread) or the
    HTTP error to answer."""
    try:
        return _store(app, payload, inline=True)
    except _WriterBusy:
        return None
    except Exception as exc:
        return exc


def _store_queued(app: Any, payload: AlertmanagerPayload) -> IngestResult:
    with serialized_writes(app.state.engine):
        return _store(app, payload)


def _store(app: Any, payload: AlertmanagerPayload, *, inline: bool = False) -> IngestResult:
    """One transaction; the caller holds this process's SQLite write lock."""
    engine = app.state.engine
    settings = app.state.settings
    # Two deliveries of one new group can race to open it: the loser retries and joins.
    for attempt in range(3):
        with Session(engine, expire_on_commit=False) as session:
            try:
                if inline:
                    wait_briefly_for_write_lock(session, INLINE_LOCK_WAIT_MS)
                result = ingest_alertmanager(
                    session=session,
                    payload=payload,
                    now=app.state.clock(),
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
            except DomainError:
                # Never a 4xx for a delivery (Alertmanager would drop it): a refusal from
                # inside ingest is our fault, so Alertmanager keeps the alerts and retries.
                session.rollback()
                log.exception("webhook: ingest refused a delivery; answering 503")
                raise HTTPException(
                    503, "could not store the delivery; retry later", headers={"Retry-After": "5"}
                ) from None
    raise AssertionError("unreachable")
