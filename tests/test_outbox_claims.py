"""Outbox delivery under pressure: head-of-line order that never stalls other incidents or
channels, leases that survive a crash, dead rows, replay, wake-on-commit, parallel workers."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from oncall.clock import FrozenClock
from oncall.incidents.models import Incident, group_hash
from oncall.outbox import (
    LEASE,
    Claimed,
    DeferredDelivery,
    Handler,
    OutboxMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
    Worker,
    claim,
    deliver_channel,
    deliver_due,
    enqueue,
    expire_undelivered,
    list_messages,
    retry_message,
)

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def make_incidents(engine: Engine, *ids: int) -> None:
    with Session(engine) as s:
        for i in ids:
            s.add(
                Incident(
                    id=i,
                    group_key=f"g{i}",
                    group_hash=group_hash(f"g{i}"),
                    title=f"incident {i}",
                    triggered_at=T0,
                    updated_at=T0,
                )
            )
        s.commit()


def add(
    engine: Engine, channel: str, kind: str, *, incident_id: int | None = None, n: int = 1
) -> None:
    with Session(engine) as s:
        for i in range(n):
            enqueue(
                session=s,
                channel=channel,
                kind=kind,
                payload={"n": i},
                now=T0,
                incident_id=incident_id,
            )
        s.commit()


class Target:
    """A fake outside service: records what it got, per incident and kind; fails as told."""

    def __init__(self, failing: set[int | None] | None = None, delay: float = 0.0) -> None:
        self.failing = failing or set()
        self.delay = delay
        self.sent: list[tuple[int | None, str, int]] = []
        self.lock = threading.Lock()

    def send(self, message: Claimed) -> Mapping[str, Any]:
        if self.delay:
            time.sleep(self.delay)
        if message.incident_id in self.failing:
            raise RetryableDeliveryError("503 service unavailable")
        with self.lock:
            self.sent.append((message.incident_id, message.kind, message.id))
        return {"ok": True}

    @property
    def handler(self) -> Handler:
        return Handler(send=self.send)


def test_a_blocked_incident_never_stalls_another_incident(engine: Engine) -> None:
    # Incident 1's post keeps failing with 100 updates queued behind it (the reported case).
    make_incidents(engine, 1, 2)
    add(engine, "slack", "post_incident", incident_id=1)
    add(engine, "slack", "update_incident", incident_id=1, n=100)
    add(engine, "slack", "post_incident", incident_id=2)
    target = Target(failing={1})

    report = deliver_due(engine=engine, handlers={"slack": target.handler}, now=FrozenClock(T0))

    assert [(i, k) for i, k, _ in target.sent] == [(2, "post_incident")]
    assert report.retried == 1  # only the head of incident 1 was tried, its updates wait
    with Session(engine) as s:
        waiting = s.exec(select(OutboxMessage).where(OutboxMessage.kind == "update_incident")).all()
    assert all(m.attempts == 0 for m in waiting)


def test_a_slack_outage_never_delays_a_pagerduty_page(engine: Engine) -> None:
    make_incidents(engine, 1)
    add(engine, "slack", "post_incident", incident_id=1)
    add(engine, "pagerduty", "trigger", incident_id=1)
    slack, pagerduty = Target(failing={1}), Target()

    deliver_due(
        engine=engine,
        handlers={"slack": slack.handler, "pagerduty": pagerduty.handler},
        now=FrozenClock(T0),
    )

    assert [(i, k) for i, k, _ in pagerduty.sent] == [(1, "trigger")]
    assert slack.sent == []


def test_rows_of_one_incident_go_in_order_once_the_head_is_through(engine: Engine) -> None:
    make_incidents(engine, 1)
    add(engine, "slack", "post_incident", incident_id=1)
    add(engine, "slack", "update_incident", incident_id=1, n=3)
    target = Target()
    deliver_due(engine=engine, handlers={"slack": target.handler}, now=FrozenClock(T0))
    ids = [message_id for _, _, message_id in target.sent]
    assert [k for _, k, _ in target.sent] == ["post_incident"] + ["update_incident"] * 3
    assert ids == sorted(ids)


def test_a_claimed_row_is_not_claimed_again_until_its_lease_runs_out(engine: Engine) -> None:
    add(engine, "pagerduty", "trigger", n=3)
    first = claim(engine=engine, channel="pagerduty", worker="a", now=T0)
    assert len(first) == 3
    # The worker "dies" here: sent nothing, recorded nothing.
    assert claim(engine=engine, channel="pagerduty", worker="b", now=T0 + LEASE / 2) == []
    again = claim(
        engine=engine, channel="pagerduty", worker="b", now=T0 + LEASE + timedelta(seconds=1)
    )
    assert [m.id for m in again] == [m.id for m in first]


def test_after_a_crash_a_message_is_delivered_once_more_not_twice_more(engine: Engine) -> None:
    """The worker sends a message, then dies before recording it: after the lease runs out it
    is sent a second time (at least once), and never a third."""
    add(engine, "pagerduty", "trigger", n=3)
    target = Target()
    crashed = {"done": False}

    def recorded(_session: Session, _message: Claimed, _result: Mapping[str, Any]) -> None:
        if not crashed["done"]:
            crashed["done"] = True
            raise RuntimeError("the process died before its commit")

    handler = Handler(send=target.send, recorded=recorded)
    clock = FrozenClock(T0)
    with pytest.raises(RuntimeError):
        deliver_channel(engine=engine, channel="pagerduty", handler=handler, now=clock)
    assert len(target.sent) == 1  # the first was sent; the other two were never tried

    clock.advance(LEASE + timedelta(seconds=1))
    deliver_due(engine=engine, handlers={"pagerduty": handler}, now=clock)
    clock.advance(LEASE + timedelta(hours=1))
    deliver_due(engine=engine, handlers={"pagerduty": handler}, now=clock)

    per_message = Counter(message_id for _, _, message_id in target.sent)
    assert sorted(per_message.values()) == [1, 1, 2]
    with Session(engine) as s:
        assert all(m.delivered_at is not None for m in s.exec(select(OutboxMessage)))


def test_a_slow_target_does_not_send_rows_whose_lease_ran_out(engine: Engine) -> None:
    """Rows claimed in one batch are handed back when the lease nearly ran out while earlier
    rows were sent, rather than sent by two workers at once."""
    add(engine, "slack", "thread_message", n=5)
    clock = FrozenClock(T0)

    def slow(message: Claimed) -> Mapping[str, Any]:
        clock.advance(LEASE / 2)  # each call eats half of the lease
        return {}

    report = deliver_channel(engine=engine, channel="slack", handler=Handler(send=slow), now=clock)
    assert report.delivered == 2
    # The rest are free for anyone at once, not only after the lease.
    assert len(claim(engine=engine, channel="slack", worker="other", now=clock())) == 3


def test_a_row_undelivered_after_the_max_age_is_dead_and_shown(engine: Engine) -> None:
    make_incidents(engine, 1)
    add(engine, "slack", "post_incident", incident_id=1)
    target = Target(failing={1})
    clock = FrozenClock(T0)
    shown: list[str] = []

    def on_failure(_session: Session, message: OutboxMessage) -> None:
        shown.append(message.last_error or "")

    while not shown and clock() < T0 + timedelta(hours=30):
        deliver_due(
            engine=engine,
            handlers={"slack": target.handler},
            now=clock,
            max_age=timedelta(hours=24),
            on_failure=on_failure,
        )
        clock.advance(timedelta(minutes=15))

    assert len(shown) == 1
    assert shown[0].startswith("undelivered after 1 day, 0:00:00: RetryableDeliveryError: 503")
    assert T0 + timedelta(hours=23) <= clock() <= T0 + timedelta(hours=25)
    with Session(engine) as s:
        [dead] = list_messages(session=s, failed=True)
        assert dead.kind == "post_incident"
        assert list_messages(session=s) == []


def test_expire_gives_up_rows_that_were_never_tried(engine: Engine) -> None:
    add(engine, "slack", "thread_message", n=2)
    with Session(engine, expire_on_commit=False) as s:
        assert expire_undelivered(session=s, now=T0 + timedelta(hours=23)) == []
        dead = expire_undelivered(session=s, now=T0 + timedelta(hours=25))
        s.commit()
    assert len(dead) == 2
    assert all(m.last_error == "undelivered after 1 day, 0:00:00" for m in dead)


def test_retry_replays_a_failed_row_with_a_fresh_age(engine: Engine) -> None:
    add(engine, "slack", "post_incident")
    clock = FrozenClock(T0)

    def refuse(_message: Claimed) -> Mapping[str, Any]:
        raise PermanentDeliveryError("channel_not_found")

    deliver_due(engine=engine, handlers={"slack": Handler(send=refuse)}, now=clock)
    with Session(engine) as s:
        [failed] = list_messages(session=s, failed=True)
        assert failed.id is not None
        clock.advance(timedelta(days=3))  # older than the max age: retry must still send it
        retry_message(session=s, message_id=failed.id, now=clock())
        s.commit()
    target = Target()
    report = deliver_due(engine=engine, handlers={"slack": target.handler}, now=clock)
    assert report.delivered == 1
    assert [k for _, k, _ in target.sent] == ["post_incident"]


def test_retry_refuses_unknown_delivered_and_pending_rows(engine: Engine) -> None:
    from oncall.errors import Conflict, UnknownEntity

    add(engine, "slack", "post_incident", n=2)
    with Session(engine) as s:
        with pytest.raises(UnknownEntity):
            retry_message(session=s, message_id=999, now=T0)
        pending = list_messages(session=s)[0]
        with pytest.raises(Conflict, match="has not failed"):
            retry_message(session=s, message_id=pending.id or 0, now=T0)


def test_the_same_dedup_key_in_a_channel_is_enqueued_once(engine: Engine) -> None:
    with Session(engine) as s:
        for channel in ("pagerduty", "pagerduty", "slack"):
            enqueue(
                session=s,
                channel=channel,
                kind="trigger",
                payload={},
                now=T0,
                dedup_key="oncall-1:1:trigger",
            )
        s.commit()
    with Session(engine) as s:
        channels = sorted(m.channel for m in s.exec(select(OutboxMessage)))
    assert channels == ["pagerduty", "slack"]


@contextmanager
def running_worker(
    engine: Engine, handlers: Mapping[str, Handler], **options: Any
) -> Iterator[Worker]:
    """A worker on the wall clock whose poll is two minutes away unless told otherwise, so
    what it sends within a test came from a wake; stopped when the block ends."""
    options.setdefault("poll_seconds", 120)
    worker = Worker(
        engine=engine, handlers=handlers, now=lambda: datetime.now(UTC), name="w", **options
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def wait_until(done: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_commit_wakes_the_worker_at_once(sqlite_engine: Engine) -> None:
    target = Target()
    delivered = threading.Event()

    def send(message: Claimed) -> Mapping[str, Any]:
        result = target.send(message)
        delivered.set()
        return result

    with running_worker(sqlite_engine, {"slack": Handler(send=send)}):
        time.sleep(0.2)  # the worker has done its first (empty) pass and waits
        with Session(sqlite_engine) as s:
            enqueue(session=s, channel="slack", kind="post_incident", payload={}, now=T0)
            s.commit()
        assert delivered.wait(10), "the commit did not wake the worker"


def test_rows_behind_a_sent_row_go_without_waiting_for_the_poll(sqlite_engine: Engine) -> None:
    """The update waits behind its incident's post; once the post is sent, the update goes in
    the same wake, not two minutes later on the poll."""
    make_incidents(sqlite_engine, 1)
    target = Target()
    with running_worker(sqlite_engine, {"slack": target.handler}):
        time.sleep(0.2)
        with Session(sqlite_engine) as s:
            for kind in ("post_incident", "update_incident", "update_incident"):
                enqueue(session=s, channel="slack", kind=kind, payload={}, now=T0, incident_id=1)
            s.commit()
        wait_until(lambda: len(target.sent) >= 3)
    assert [kind for _, kind, _ in target.sent] == [
        "post_incident",
        "update_incident",
        "update_incident",
    ]


def test_a_stream_of_commits_is_sent_in_a_few_claims(sqlite_engine: Engine) -> None:
    """300 incidents committed one by one over about a second (a cluster failing) are each
    delivered once, in batches: far fewer claims than commits (messages of one claim share
    its lease)."""
    make_incidents(sqlite_engine, *range(1, 301))
    leases: list[datetime] = []
    sent: list[int | None] = []
    lock = threading.Lock()

    def send(message: Claimed) -> Mapping[str, Any]:
        with lock:
            leases.append(message.lease_until)
            sent.append(message.incident_id)
        return {"ok": True}

    settle = 0.05
    with running_worker(sqlite_engine, {"pagerduty": Handler(send=send)}, settle_seconds=settle):
        started = time.monotonic()
        for incident_id in range(1, 301):
            add(sqlite_engine, "pagerduty", "trigger", incident_id=incident_id)
            time.sleep(0.003)
        wait_until(lambda: len(sent) >= 300, seconds=20)
        elapsed = time.monotonic() - started
    assert sorted(i for i in sent if i is not None) == list(range(1, 301))
    claims = len(set(leases))
    # At most one claim per settling moment while the commits go on (and a last one).
    assert claims <= elapsed / settle + 2, f"{claims} claims for 300 commits in {elapsed:.2f}s"


def test_rows_deferred_to_different_moments_each_go_at_theirs(sqlite_engine: Engine) -> None:
    """Two coalesced updates of one batch ask to go 0.1 s and 0.8 s later: each is sent at
    its moment, although nothing else wakes the worker and the poll is two minutes away (the
    first going does not make the worker forget the second)."""
    make_incidents(sqlite_engine, 1, 2)
    waits = {1: timedelta(seconds=0.1), 2: timedelta(seconds=0.8)}
    sent: dict[int, float] = {}

    def send(message: Claimed) -> Mapping[str, Any]:
        assert message.incident_id is not None
        wait = waits.pop(message.incident_id, None)
        if wait is not None:
            raise DeferredDelivery("inside its window", retry_after=wait)
        sent[message.incident_id] = time.monotonic()
        return {"ok": True}

    with running_worker(sqlite_engine, {"slack": Handler(send=send)}):
        time.sleep(0.2)
        committed = time.monotonic()
        with Session(sqlite_engine) as s:
            for incident_id in (1, 2):
                enqueue(
                    session=s,
                    channel="slack",
                    kind="update_incident",
                    payload={},
                    now=T0,
                    incident_id=incident_id,
                )
            s.commit()
        wait_until(lambda: len(sent) >= 2)
    assert sorted(sent) == [1, 2], "a deferred row waited for the poll"
    assert sent[1] - committed >= 0.1 and sent[2] - committed >= 0.8


def test_a_rolled_back_enqueue_wakes_nobody_and_sends_nothing(sqlite_engine: Engine) -> None:
    target = Target()
    with running_worker(sqlite_engine, {"slack": target.handler}, poll_seconds=0.05):
        with Session(sqlite_engine) as s:
            enqueue(session=s, channel="slack", kind="post_incident", payload={}, now=T0)
            s.rollback()
        time.sleep(0.3)
    assert target.sent == []


@pytest.mark.postgres
def test_two_workers_at_once_deliver_each_row_exactly_once(pg_engine: Engine) -> None:
    from sqlmodel import SQLModel

    SQLModel.metadata.create_all(pg_engine)
    make_incidents(pg_engine, *range(1, 41))
    for incident_id in range(1, 41):
        add(pg_engine, "slack", "post_incident", incident_id=incident_id)
        add(pg_engine, "slack", "update_incident", incident_id=incident_id, n=2)
    add(pg_engine, "slack", "thread_message", n=80)
    target = Target(delay=0.002)
    now = FrozenClock(T0)
    errors: list[BaseException] = []
    per_worker: Counter[str] = Counter()

    def work(name: str) -> None:
        try:
            for _ in range(200):
                report = deliver_channel(
                    engine=pg_engine,
                    channel="slack",
                    handler=target.handler,
                    now=now,
                    worker=name,
                    limit=10,
                )
                per_worker[name] += report.delivered
                if report.claimed == 0:
                    with Session(pg_engine) as s:
                        if not list_messages(session=s):
                            return
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    counts = Counter(message_id for _, _, message_id in target.sent)
    assert len(counts) == 40 * 3 + 80
    assert set(counts.values()) == {1}
    assert per_worker["a"] > 0 and per_worker["b"] > 0  # both delivered: in parallel
    # Each incident's messages still went out in id order, whichever worker sent them.
    for incident_id in range(1, 41):
        ids = [m for i, _, m in target.sent if i == incident_id]
        assert len(ids) == 3
        assert ids == sorted(ids)


def test_a_claim_reads_the_oldest_rows_of_a_long_backlog_without_sorting_it(
    sqlite_engine: Engine,
) -> None:
    """A storm paced to one Slack post a second leaves thousands of rows pending in a channel;
    each claim must take its oldest rows by index, not read and sort the whole backlog (which
    made a drain grow with the backlog's square). The plan SQLite runs for the claim, and the
    "later row of this incident" check, read by their own indexes."""
    from oncall.db import driver_execute
    from oncall.integrations.slack.delivery import _LATER_IN_STORM, _LATER_OF_INCIDENT
    from oncall.outbox import _candidates_on_driver

    make_incidents(sqlite_engine, 1)
    add(sqlite_engine, "slack", "update_incident", n=300)  # no key: all can go
    with sqlite_engine.connect() as connection:
        for query, index in (
            (_candidates_on_driver(100), "ix_outbox_pending_by_channel"),
            (_LATER_IN_STORM, "ix_outbox_pending_by_channel"),
            (_LATER_OF_INCIDENT, "ix_outbox_incident_id"),
        ):
            sql = query.compiled.sql
            plan = " | ".join(
                str(row[-1])
                for row in driver_execute(
                    connection, "EXPLAIN QUERY PLAN " + sql, [None] * sql.count("?")
                ).fetchall()
            )
            assert f"USING INDEX {index}" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
        # The pinned index changes the plan, not the answer: the oldest 100 of the channel.
        claimed = claim(engine=sqlite_engine, channel="slack", worker="w", now=T0 + timedelta(1))
        with Session(sqlite_engine) as s:
            ids = sorted(m.id for m in s.exec(select(OutboxMessage)) if m.id is not None)
        assert [m.id for m in claimed] == ids[:100]


def test_pinning_an_index_names_a_table_the_statement_reads() -> None:
    from sqlalchemy import select as select_columns

    from oncall.db import DriverQuery
    from oncall.outbox import OUTBOX

    with pytest.raises(ValueError, match="no FROM people"):
        DriverQuery(select_columns(OUTBOX.c.id), indexed_by=("people", "ix_people_x"))
