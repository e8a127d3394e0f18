"""Background work of `oncall serve`: the outbox workers and the scheduled jobs.

Every process delivers the outbox (rows are leased one worker at a time, so replicas deliver
in parallel and never twice). The scheduled jobs — escalations, outbox housekeeping, RCA drafts
and the hand-offs, snapshots and digests to come — run only on the one process that holds the
scheduler lease of its database (`leases.py`); the others stand by and take over when the
holder stops renewing. Each job goes through `run_job`: leadership, errors and logging in
one place.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine
from sqlmodel import Session

from oncall import leases, outbox
from oncall.clock import Clock, system_clock
from oncall.db import session_scope
from oncall.escalation import scheduled as escalation_jobs
from oncall.metrics import ServiceMetrics
from oncall.readiness import scheduled as readiness_jobs
from oncall.readiness.live import LiveEvidence

log = logging.getLogger(__name__)

OUTBOX_POLL_SECONDS = 2.0
LEADERSHIP_SECONDS = 5.0


@dataclass(frozen=True)
class Job:
    """A scheduled job: `run(engine, now)` does its own transactions and returns a count."""

    name: str
    seconds: float
    run: Callable[[Engine, datetime], int]
    done: str  # how the count is logged: "fired %d escalation step(s)"


def outbox_failure_on_incident(clock: Clock) -> outbox.OnFailure:
    """Show a refused or dead Slack post or PagerDuty event on its incident."""
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


def leader_jobs(
    *,
    clock: Clock,
    max_age: timedelta,
    metrics: ServiceMetrics,
    live: LiveEvidence | None = None,
    public_url: str = "http://127.0.0.1:8080",
) -> list[Job]:
    """The leader's jobs. `public_url` is where links in messages point (ONCALL_PUBLIC_URL)."""
    from oncall.incidents.service import fire_due_escalations, open_incidents_of_rotation
    from oncall.integrations.slack import seen
    from oncall.rca import scheduled as rca_jobs
    from oncall.rotations import handoffs

    on_failure = outbox_failure_on_incident(clock)

    def escalations(engine: Engine, now: datetime) -> int:
        return fire_due_escalations(engine=engine, now=now)  # with the incidents' Notify

    def expire_outbox(engine: Engine, now: datetime) -> int:
        with session_scope(engine) as session:
            dead = outbox.expire_undelivered(session=session, now=now, max_age=max_age)
            for row in dead:
                on_failure(session, row)
        if dead:
            metrics.outbox_deliveries.labels("dead").inc(len(dead))
        return len(dead)

    def purge_outbox(engine: Engine, now: datetime) -> int:
        with session_scope(engine) as session:
            return outbox.purge_delivered(session=session, now=now)

    def readiness_snapshots(engine: Engine, now: datetime) -> int:
        return readiness_jobs.take_daily_snapshots(engine=engine, now=now, live=live)

    def rca_drafts(engine: Engine, now: datetime) -> int:
        return rca_jobs.draft_resolved(engine=engine, now=now, public_url=public_url)

    def announce_handoffs(engine: Engine, now: datetime) -> int:
        with session_scope(engine) as session:
            seen.purge(session=session, now=now)  # Slack request keys older than a day
        return handoffs.announce_handoffs_job(
            engine=engine, now=now, open_incidents=open_incidents_of_rotation
        )

    return [
        Job("escalation", escalation_jobs.INTERVAL_SECONDS, escalations, "fired %d step(s)"),
        Job("rca-drafts", rca_jobs.INTERVAL_SECONDS, rca_drafts, "drafted %d RCA(s)"),
        Job("outbox-expire", 60, expire_outbox, "%d undelivered row(s) given up"),
        Job("outbox-purge", 3600, purge_outbox, "purged %d delivered row(s)"),
        Job(
            "prs-snapshot",
            readiness_jobs.INTERVAL_SECONDS,
            readiness_snapshots,
            "stored today's PRS snapshot of %d model(s)",
        ),
        Job("handoffs", handoffs.INTERVAL_SECONDS, announce_handoffs, "announced %d hand-off(s)"),
    ]


class Background:
    """The outbox worker, the leadership loop and the leader's jobs of one process."""

    def __init__(
        self,
        *,
        engine: Engine,
        handlers: Mapping[str, outbox.Handler],
        clock: Clock,
        metrics: ServiceMetrics,
        max_age: timedelta = outbox.DEFAULT_MAX_AGE,
        lease_clock: Clock = system_clock,
        identity: str | None = None,
        live: LiveEvidence | None = None,
        public_url: str = "http://127.0.0.1:8080",
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.lease_clock = lease_clock  # real time: a lease measures whether a process lives
        self.metrics = metrics
        self.identity = identity or leases.process_identity()
        self.worker = outbox.Worker(
            engine=engine,
            handlers=handlers,
            now=clock,
            name=self.identity,
            poll_seconds=OUTBOX_POLL_SECONDS,
            max_age=max_age,
            on_failure=outbox_failure_on_incident(clock),
            on_report=self._count,
        )
        self._leader = threading.Event()
        self._announced = False  # the standby message is logged once, not every 5 s
        self._scheduler = BackgroundScheduler(timezone="UTC")
        self.jobs = leader_jobs(
            clock=clock, max_age=max_age, metrics=metrics, live=live, public_url=public_url
        )

    @property
    def is_leader(self) -> bool:
        return self._leader.is_set()

    def _count(self, _channel: str, report: outbox.DeliveryReport) -> None:
        for outcome in ("delivered", "retried", "failed", "dead"):
            count = getattr(report, outcome)
            if count:
                self.metrics.outbox_deliveries.labels(outcome).inc(count)

    def elect(self) -> bool:
        """Take or renew the scheduler lease; log when this process becomes leader or standby."""
        now = self.lease_clock()
        try:
            with session_scope(self.engine) as session:
                held = leases.try_acquire(
                    session=session, name=leases.SCHEDULER, holder=self.identity, now=now
                )
                holder = (
                    None
                    if held
                    else leases.holder_of(session=session, name=leases.SCHEDULER, now=now)
                )
        except Exception:
            log.exception("scheduler: cannot reach the lease; standing by")
            held, holder = False, None
        if held and not self.is_leader:
            log.info(
                "scheduler: this process (%s) leads; it runs the scheduled jobs", self.identity
            )
            self._leader.set()
        elif not held and self.is_leader:
            log.warning("scheduler: lost the lease to %s; standing by", holder or "another process")
            self._leader.clear()
        elif not held and holder and not self._announced:
            log.info("scheduler: standing by; %s runs the scheduled jobs", holder)
        self._announced = True
        return held

    def run_job(self, job: Job) -> int | None:
        """One run of a job, on the leader only; failures are logged, never raised."""
        if not self.is_leader:
            return None
        try:
            count = job.run(self.engine, self.clock())
        except Exception:
            log.exception("job %s failed; next run in %ss", job.name, job.seconds)
            return None
        if count:
            log.info("job %s: " + job.done, job.name, count)
        return count

    def start(self) -> None:
        self.worker.start()
        self.elect()
        self._scheduler.add_job(
            self.elect, "interval", seconds=LEADERSHIP_SECONDS, id="leadership", coalesce=True
        )
        for job in self.jobs:
            self._scheduler.add_job(
                self.run_job,
                "interval",
                args=[job],
                seconds=job.seconds,
                id=job.name,
                max_instances=1,
                coalesce=True,
            )
        self._scheduler.start()
        log.info(
            "background: outbox workers for %s; jobs %s",
            ", ".join(self.worker.handlers),
            ", ".join(f"{j.name} every {j.seconds:g}s" for j in self.jobs),
        )

    def stop(self) -> None:
        """Finish the job and the deliveries in flight, then give the lease up."""
        self._scheduler.shutdown(wait=True)
        self.worker.stop()
        if self.is_leader:
            try:
                with session_scope(self.engine) as session:
                    leases.release(
                        session=session,
                        name=leases.SCHEDULER,
                        holder=self.identity,
                        now=self.lease_clock(),
                    )
            except Exception:
                log.warning("scheduler: could not release the lease; it runs out by itself")
            self._leader.clear()
