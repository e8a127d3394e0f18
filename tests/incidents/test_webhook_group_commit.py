"""SQLite: deliveries that arrive together are stored in one transaction (group commit), each
answered only after that commit; when the shared transaction fails, nothing of it is kept and
each delivery is stored again on its own, so one bad delivery never costs the others theirs."""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import count, payload
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from oncall.api import webhook
from oncall.app import create_app
from oncall.catalog.loader import load_catalog
from oncall.catalog.service import apply_catalog
from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.db import make_engine, write_lock
from oncall.errors import DomainError
from oncall.incidents.models import Alert, Incident, IncidentEvent
from oncall.outbox import OutboxMessage

EXAMPLE_CATALOG = Path(__file__).resolve().parents[1] / "fixtures" / "oncall.yaml"
URL = "/api/v1/alerts/alertmanager"
DELIVERIES = 8


@pytest.fixture
def engine(tmp_path: Path, clock: FrozenClock) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'oncall.db'}")
    SQLModel.metadata.create_all(eng)
    with Session(eng) as s:
        apply_catalog(session=s, spec=load_catalog(EXAMPLE_CATALOG), now=clock.now)
        s.commit()
    yield eng
    eng.dispose()


def gpu_groups(n: int) -> list[dict[str, Any]]:
    """A cluster failing at once: one GPU alert per node, each node its own group."""
    base = payload("gpu-xid-firing")
    out = []
    for i in range(n):
        p = copy.deepcopy(base)
        p["alerts"] = p["alerts"][:1]
        p["groupKey"] = f'{{}}/{{category="gpu_node"}}:{{node="node-{i}"}}'
        p["alerts"][0]["labels"]["node"] = f"node-{i}"
        p["alerts"][0]["fingerprint"] = f"{i:016x}"
        out.append(p)
    return out


def commits(engine: Engine) -> list[int]:
    """A counter of the engine's COMMITs, from now on."""
    seen = [0]
    event.listen(engine, "commit", lambda _conn: seen.__setitem__(0, seen[0] + 1))
    return seen


async def post_together(app: Any, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """Every delivery sent at once, on the app's own event loop (as uvicorn serves it)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://oncall") as client:
        return await asyncio.gather(*(client.post(URL, json=body) for body in bodies))


def test_deliveries_arriving_together_share_one_commit_and_each_is_answered(
    engine: Engine, clock: FrozenClock
) -> None:
    app = create_app(
        Settings(ONCALL_DATABASE_URL="sqlite://"), engine=engine, clock=clock, background=False
    )
    seen = commits(engine)
    answers = asyncio.run(post_together(app, gpu_groups(DELIVERIES)))

    assert [a.status_code for a in answers] == [200] * DELIVERIES
    assert [a.json()["outcome"] for a in answers] == ["created"] * DELIVERIES
    ids = {a.json()["incident_id"] for a in answers}
    assert len(ids) == DELIVERIES
    assert seen[0] < DELIVERIES, "the deliveries were never stored together"
    with Session(engine) as s:
        stored = {i.id: i.group_key for i in s.exec(select(Incident))}
        assert set(stored) == ids
        # Each incident has its own alert, timeline and outbox rows, as when stored alone.
        for incident_id in ids:
            alerts = s.exec(select(Alert).where(Alert.incident_id == incident_id)).all()
            assert len(alerts) == 1
            kinds = {
                e.kind
                for e in s.exec(
                    select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
                )
            }
            assert {"triggered", "escalated"} <= kinds
            rows = s.exec(
                select(OutboxMessage).where(OutboxMessage.incident_id == incident_id)
            ).all()
            assert sorted(r.kind for r in rows) == ["post_incident", "trigger"]


def test_a_failing_delivery_is_retried_alone_and_the_others_are_stored(
    engine: Engine, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = gpu_groups(DELIVERIES)
    poisoned = bodies[3]["groupKey"]
    real_ingest = webhook.ingest_alertmanager
    attempts: list[str] = []

    def ingest(**kwargs: Any) -> Any:
        result = real_ingest(**kwargs)  # written, then refused: the transaction must undo it
        attempts.append(kwargs["payload"].groupKey)
        if kwargs["payload"].groupKey == poisoned:
            raise DomainError("refused after writing")
        return result

    monkeypatch.setattr(webhook, "ingest_alertmanager", ingest)
    app = create_app(
        Settings(ONCALL_DATABASE_URL="sqlite://"), engine=engine, clock=clock, background=False
    )
    answers = asyncio.run(post_together(app, bodies))

    codes = {b["groupKey"]: a.status_code for b, a in zip(bodies, answers, strict=True)}
    assert codes.pop(poisoned) == 503  # Alertmanager keeps it and retries
    assert set(codes.values()) == {200}
    assert attempts.count(poisoned) >= 2, "the shared transaction was never retried alone"
    with Session(engine) as s:
        keys = {i.group_key for i in s.exec(select(Incident))}
    assert keys == {b["groupKey"] for b in bodies} - {poisoned}
    assert count(engine, Incident) == DELIVERIES - 1
    assert count(engine, Alert) == DELIVERIES - 1
    assert count(engine, OutboxMessage) == 2 * (DELIVERIES - 1)  # nothing of the refused one


def test_while_this_process_writes_elsewhere_the_loop_keeps_answering(
    engine: Engine, clock: FrozenClock
) -> None:
    """The outbox worker (here: a thread) holds the process's write lock: the queued delivery
    does not block the event loop, and moves to a thread after a short wait."""
    app = create_app(
        Settings(ONCALL_DATABASE_URL="sqlite://"), engine=engine, clock=clock, background=False
    )
    lock = write_lock(engine)
    assert lock is not None
    held = threading.Event()
    release = threading.Event()

    def other_writer() -> None:
        with lock:
            held.set()
            release.wait(5)

    async def scenario() -> tuple[httpx.Response, list[int]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://oncall") as client:
            delivery = asyncio.create_task(client.post(URL, json=gpu_groups(1)[0]))
            health = []
            for _ in range(3):  # the loop is free while the delivery waits
                health.append((await client.get("/healthz")).status_code)
                await asyncio.sleep(0.05)
            assert not delivery.done(), "the delivery must wait for the lock"
            release.set()
            return await delivery, health

    writer = threading.Thread(target=other_writer)
    writer.start()
    assert held.wait(5)
    try:
        answer, health = asyncio.run(scenario())
    finally:
        release.set()
        writer.join(5)
    assert health == [200, 200, 200]
    assert (answer.status_code, answer.json()["outcome"]) == (200, "created")
    assert count(engine, Incident) == 1
