"""The storm decision serialises per channel: concurrent transactions (two webhook deliveries,
two replicas) opening incidents in one channel start one storm between them, not one each."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from oncall.incidents import storms
from oncall.incidents.models import Incident, IncidentStorm

T = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
THREADS = 8


@pytest.fixture
def postgres_tables(pg_engine: Engine) -> Engine:
    import oncall.tables  # noqa: F401  (every table in the metadata)

    SQLModel.metadata.create_all(pg_engine)
    return pg_engine


def new_incident(session: Session, n: int, channel: str, at: datetime) -> Incident:
    incident = Incident(
        group_key=f"g{channel}{n}",
        group_hash=f"h{channel}{n}",
        open_group_hash=f"h{channel}{n}",
        title=f"node {n} down",
        slack_channel=channel,
        triggered_at=at,
        updated_at=at,
    )
    session.add(incident)
    session.flush()
    return incident


def open_concurrently(engine: Engine, channel: str, start: int) -> list[int | None]:
    """THREADS transactions, each opening one incident in `channel` and deciding its storm at
    the same moment, then committing."""
    barrier = threading.Barrier(THREADS)
    found: list[int | None] = []
    errors: list[BaseException] = []
    guard = threading.Lock()

    def one(n: int) -> None:
        try:
            with Session(engine) as session:
                incident = new_incident(session, n, channel, T + timedelta(seconds=1))
                barrier.wait(timeout=10)
                storm_id = storms.gather(
                    session=session,
                    incident=incident,
                    channel=channel,
                    now=T + timedelta(seconds=1),
                )
                session.commit()
            with guard:
                found.append(storm_id)
        except BaseException as exc:  # shown by the test, not lost in the thread
            with guard:
                errors.append(exc)

    threads = [threading.Thread(target=one, args=(start + n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return found


def test_concurrent_openings_in_one_channel_start_one_storm(postgres_tables: Engine) -> None:
    engine = postgres_tables
    with Session(engine) as session:
        for n in range(storms.OWN_MESSAGES):  # three messages of their own already
            new_incident(session, n, "C0GPU", T)
        session.commit()

    found = open_concurrently(engine, "C0GPU", 100)

    with Session(engine) as session:
        all_storms = list(session.exec(select(IncidentStorm)))
        members = list(session.exec(select(Incident).where(Incident.storm_id.is_not(None))))  # type: ignore[union-attr]
    assert len(all_storms) == 1
    assert set(found) == {all_storms[0].id}
    assert len(members) == THREADS


def test_other_channels_storm_on_their_own_at_the_same_time(postgres_tables: Engine) -> None:
    engine = postgres_tables
    with Session(engine) as session:
        for channel in ("C0A", "C0B"):
            for n in range(storms.OWN_MESSAGES):
                new_incident(session, n, channel, T)
        session.commit()

    results: dict[str, list[int | None]] = {}
    threads = [
        threading.Thread(
            target=lambda c=c, s=s: results.update({c: open_concurrently(engine, c, s)})
        )
        for c, s in (("C0A", 100), ("C0B", 200))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    with Session(engine) as session:
        by_channel = {s.channel: s.id for s in session.exec(select(IncidentStorm))}
    assert sorted(by_channel) == ["C0A", "C0B"]
    assert set(results["C0A"]) == {by_channel["C0A"]}
    assert set(results["C0B"]) == {by_channel["C0B"]}


@pytest.mark.parametrize("later", [timedelta(milliseconds=500), timedelta(seconds=2)])
def test_joining_an_open_storm_does_not_wait_for_another_transaction(
    postgres_tables: Engine, later: timedelta
) -> None:
    # A cluster failure: once its storm exists, its incidents are stored in parallel; one
    # transaction still open (a slow commit, a busy replica) must not hold up the others,
    # whether or not it moved the storm's last join (`later` of 2 s touches the storm's row).
    engine = postgres_tables
    with Session(engine) as session:
        for n in range(storms.OWN_MESSAGES + 1):
            incident = new_incident(session, n, "C0GPU", T)
            storms.gather(session=session, incident=incident, channel="C0GPU", now=T)
        session.commit()
        [open_storm] = session.exec(select(IncidentStorm)).all()

    at = T + later
    with Session(engine) as held:  # joins, and stays open until the end of the test
        first = new_incident(held, 50, "C0GPU", at)
        assert storms.gather(session=held, incident=first, channel="C0GPU", now=at) == (
            open_storm.id
        )
        done = threading.Event()
        joined: list[int | None] = []

        def other() -> None:
            with Session(engine) as session:
                incident = new_incident(session, 51, "C0GPU", at)
                joined.append(
                    storms.gather(session=session, incident=incident, channel="C0GPU", now=at)
                )
                session.commit()
            done.set()

        thread = threading.Thread(target=other)
        thread.start()
        assert done.wait(timeout=5), "the second join waited for the first transaction"
        held.commit()
    thread.join(timeout=5)
    assert joined == [open_storm.id]
    with Session(engine) as session:
        assert len(session.exec(select(IncidentStorm)).all()) == 1
