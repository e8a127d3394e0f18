"""Deliveries of the same groups at once (several Alertmanager replicas, retries) against
PostgreSQL through the real HTTP server: each group has at most one open incident, every
alert is stored once, and a delivery that loses the race to open a group joins it."""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from helpers import ALERTMANAGER, payload
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from oncall.app import create_app
from oncall.catalog.loader import load_catalog
from oncall.catalog.service import apply_catalog
from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.incidents.models import Alert, Incident

T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
FIRING = ["drift-firing", "gpu-xid-firing", "batch-failure-firing", "storm-200"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.postgres
def test_concurrent_deliveries_of_new_groups_open_one_incident_each(
    pg_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    SQLModel.metadata.create_all(pg_engine)
    with Session(pg_engine) as s:
        apply_catalog(session=s, spec=load_catalog(ALERTMANAGER.parent / "oncall.yaml"), now=T0)
        s.commit()
    app = create_app(
        Settings(ONCALL_DATABASE_URL="sqlite://"),
        engine=pg_engine,
        clock=FrozenClock(T0),
        background=False,
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    bodies = {name: payload(name) for name in FIRING}
    answers: list[int] = []
    barrier = threading.Barrier(8)

    def deliver(seed: int) -> None:
        order = list(FIRING)
        random.Random(seed).shuffle(order)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            barrier.wait()
            for name in order:
                answers.append(
                    http.post("/api/v1/alerts/alertmanager", json=bodies[name]).status_code
                )

    caplog.set_level(logging.INFO, logger="oncall.api.webhook")
    try:
        workers = [threading.Thread(target=deliver, args=(seed,)) for seed in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
    finally:
        server.should_exit = True
        thread.join(timeout=10)

    assert answers == [200] * (8 * len(FIRING))
    with Session(pg_engine) as s:
        incidents = s.exec(select(Incident)).all()
        alerts = s.exec(select(Alert)).all()
    # drift-firing and storm-200 are one group (the storm is that group grown to 200 alerts).
    groups: dict[str, set[tuple[str, str]]] = {}
    for body in bodies.values():
        occurrences = {(a["fingerprint"], a["startsAt"]) for a in body["alerts"]}
        groups.setdefault(body["groupKey"], set()).update(occurrences)
    assert sorted(i.group_key for i in incidents) == sorted(groups)
    assert all(i.status == "triggered" for i in incidents)
    assert len(alerts) == sum(len(occurrences) for occurrences in groups.values())
    assert "group opened concurrently by another delivery; joining it" in caplog.text
