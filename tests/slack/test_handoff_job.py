"""The hand-off job is one of the scheduler leader's jobs, and runs through `run_job`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from oncall.clock import FrozenClock
from oncall.metrics import ServiceMetrics
from oncall.outbox import MessageKind, OutboxMessage
from oncall.rotations.models import HandOff
from oncall.scheduler import Background

T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def test_the_leader_announces_hand_offs_once_each(catalog: Engine) -> None:
    clock = FrozenClock(T0)
    work = Background(engine=catalog, handlers={}, clock=clock, metrics=ServiceMetrics(catalog))
    (job,) = [j for j in work.jobs if j.name == "handoffs"]
    assert work.run_job(job) is None  # not the leader: nothing runs
    assert work.elect()
    assert work.run_job(job) == 0  # the first look records who is on call
    with Session(catalog) as s:
        assert {h.rotation_id: h.person_id for h in s.exec(select(HandOff))} == {
            "growth-primary": "taka",
            "platform-primary": "ben",
        }
    clock.set(datetime(2026, 3, 10, 15, 0, tzinfo=UTC))
    assert work.run_job(job) == 2  # Emily took growth on Monday, Ana has platform today
    clock.advance(timedelta(minutes=1))
    assert work.run_job(job) == 0
    with Session(catalog) as s:
        notices = s.exec(
            select(OutboxMessage).where(OutboxMessage.kind == MessageKind.channel_notice)
        ).all()
    assert sorted(n.payload["rotation_id"] for n in notices) == [
        "growth-primary",
        "platform-primary",
    ]
