"""Background jobs of `oncall serve`: the outbox worker and the domain's scheduled jobs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import FastAPI
from sqlmodel import Session

from oncall import outbox
from oncall.integrations.delivery import build_handlers

log = logging.getLogger(__name__)

OUTBOX_INTERVAL_SECONDS = 2
ESCALATION_INTERVAL_SECONDS = 5


def outbox_failure_on_incident(clock: Callable[[], datetime]) -> outbox.OnFailure:
    """Show a refused Slack post or PagerDuty event on its incident (timeline and API)."""
    from oncall.incidents.service import record_delivery_failure

    def on_failure(session: Session, message: outbox.OutboxMessage) -> None:
        if message.incident_id is not None:
            record_delivery_failure(
                session=session,
                incident_id=message.incident_id,
                what=f"{message.channel} {message.kind}",
                error=message.last_error or "refused",
                now=clock(),
            )

    return on_failure


def start_scheduler(app: FastAPI) -> Any:
    settings = app.state.settings
    engine = app.state.engine
    clock = app.state.clock
    metrics = app.state.metrics
    handlers = build_handlers(settings)

    def deliver_outbox() -> None:
        try:
            report = outbox.deliver_due(
                engine=engine,
                handlers=handlers,
                now=clock,
                on_permanent_failure=outbox_failure_on_incident(clock),
            )
        except Exception:
            log.exception("outbox worker failed; next run in %ss", OUTBOX_INTERVAL_SECONDS)
            return
        for outcome in ("delivered", "retried", "failed"):
            count = getattr(report, outcome)
            if count:
                metrics.outbox_deliveries.labels(outcome).inc(count)

    def fire_escalations() -> None:
        from oncall.db import session_scope, try_job_lock
        from oncall.incidents.service import fire_due_escalations

        try:
            with session_scope(engine) as session:
                if not try_job_lock(session, "escalation"):
                    return  # another replica is firing escalations right now
                fired = fire_due_escalations(session=session, now=clock())
        except Exception:
            log.exception("escalation job failed; next run in %ss", ESCALATION_INTERVAL_SECONDS)
            return
        if fired:
            log.info("escalation: fired %d step(s)", fired)

    def purge_outbox() -> None:
        from oncall.db import session_scope

        try:
            with session_scope(engine) as session:
                purged = outbox.purge_delivered(session=session, now=clock())
        except Exception:
            log.exception("outbox purge failed; next run in an hour")
            return
        if purged:
            log.info("outbox: purged %d delivered rows older than %s", purged, outbox.RETENTION)

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(purge_outbox, "interval", hours=1, id="outbox-purge", coalesce=True)
    scheduler.add_job(
        fire_escalations,
        "interval",
        seconds=ESCALATION_INTERVAL_SECONDS,
        id="escalation",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        deliver_outbox,
        "interval",
        seconds=OUTBOX_INTERVAL_SECONDS,
        id="outbox",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    log.info(
        "scheduler started: outbox every %ss, escalations every %ss",
        OUTBOX_INTERVAL_SECONDS,
        ESCALATION_INTERVAL_SECONDS,
    )
    return scheduler
