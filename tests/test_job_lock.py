"""Scheduler jobs run on one replica at a time when replicas share PostgreSQL."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from oncall.db import try_job_lock


def test_only_one_replica_holds_a_job_until_it_commits(pg_engine: Engine) -> None:
    with Session(pg_engine) as first, Session(pg_engine) as second:
        assert try_job_lock(first, "escalation")
        assert not try_job_lock(second, "escalation")
        assert try_job_lock(second, "outbox-cleanup")  # another job is free
        second.rollback()
        first.commit()  # the lock goes with the transaction
        assert try_job_lock(second, "escalation")
        second.rollback()


def test_sqlite_needs_no_job_lock(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as a, Session(sqlite_engine) as b:
        assert try_job_lock(a, "escalation") and try_job_lock(b, "escalation")
