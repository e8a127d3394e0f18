"""The scheduler lease: one holder per database at a time, renewed by its holder, taken over
when it runs out, given up on a clean stop. On SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from oncall.clock import FrozenClock
from oncall.leases import LEASE_TTL, SCHEDULER, holder_of, release, try_acquire
from oncall.metrics import ServiceMetrics
from oncall.scheduler import Background

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def acquire(engine: Engine, holder: str, now: datetime) -> bool:
    with Session(engine) as s:
        held = try_acquire(session=s, name=SCHEDULER, holder=holder, now=now)
        s.commit()
    return held


def test_one_holder_at_a_time_until_the_lease_runs_out(engine: Engine) -> None:
    assert acquire(engine, "a", T0)
    assert not acquire(engine, "b", T0 + timedelta(seconds=1))
    assert acquire(engine, "a", T0 + timedelta(seconds=10))  # a renews: good for 15 s more
    assert not acquire(engine, "b", T0 + timedelta(seconds=20))
    later = T0 + timedelta(seconds=10) + LEASE_TTL + timedelta(seconds=1)
    assert acquire(engine, "b", later)  # a stopped renewing: b takes over
    assert not acquire(engine, "a", later)
    with Session(engine) as s:
        assert holder_of(session=s, name=SCHEDULER, now=later) == "b"


def test_a_released_lease_is_free_at_once(engine: Engine) -> None:
    assert acquire(engine, "a", T0)
    with Session(engine) as s:
        release(session=s, name=SCHEDULER, holder="b", now=T0)  # not b's to give up
        s.commit()
    assert not acquire(engine, "b", T0)
    with Session(engine) as s:
        release(session=s, name=SCHEDULER, holder="a", now=T0)
        s.commit()
    assert acquire(engine, "b", T0)


def test_only_the_leader_runs_the_jobs_and_a_standby_takes_over(catalog: Engine) -> None:
    lease_clock = FrozenClock(T0)
    processes = [
        Background(
            engine=catalog,
            handlers={},
            clock=FrozenClock(T0),
            metrics=ServiceMetrics(catalog),
            lease_clock=lease_clock,
            identity=name,
        )
        for name in ("first", "second")
    ]
    first, second = processes
    assert first.elect() and not second.elect()
    job = first.jobs[0]
    assert first.run_job(job) == 0  # the leader runs it (nothing is due)
    assert second.run_job(job) is None  # the standby does not

    lease_clock.advance(LEASE_TTL + timedelta(seconds=1))  # the first died: no more renewals
    assert second.elect()
    assert second.run_job(job) == 0
    assert not first.elect()  # it came back: it stands by now
    assert first.run_job(job) is None
