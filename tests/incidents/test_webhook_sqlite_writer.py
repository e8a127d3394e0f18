"""SQLite: the webhook stores a delivery on the event loop when nobody else writes, and waits
for another writer's lock in a thread, so the service keeps answering meanwhile."""

from __future__ import annotations

import copy
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from helpers import count, payload
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from oncall.api.webhook import INLINE_MAX_ALERTS
from oncall.app import create_app
from oncall.catalog.loader import load_catalog
from oncall.catalog.service import apply_catalog
from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.db import SQLITE_BUSY_TIMEOUT_MS, make_engine
from oncall.incidents.models import Incident

EXAMPLE_CATALOG = Path(__file__).resolve().parents[1] / "fixtures" / "oncall.yaml"
URL = "/api/v1/alerts/alertmanager"


@pytest.fixture
def database(tmp_path: Path, clock: FrozenClock) -> Iterator[tuple[Engine, Path]]:
    path = tmp_path / "oncall.db"
    engine = make_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as s:
        apply_catalog(session=s, spec=load_catalog(EXAMPLE_CATALOG), now=clock.now)
        s.commit()
    yield engine, path
    engine.dispose()


@pytest.fixture
def server(database: tuple[Engine, Path], clock: FrozenClock) -> Iterator[str]:
    engine, _ = database
    app = create_app(
        Settings(ONCALL_DATABASE_URL="sqlite://"), engine=engine, clock=clock, background=False
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        thread.join(0.01)
        assert thread.is_alive(), "the server did not start"
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_a_delivery_waits_for_another_writer_without_holding_up_the_service(
    database: tuple[Engine, Path], server: str
) -> None:
    engine, path = database
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing: it holds SQLite's write lock
    answers: list[httpx.Response] = []
    delivery = threading.Thread(
        target=lambda: answers.append(httpx.post(server + URL, json=payload("drift-firing"))),
    )
    try:
        delivery.start()
        delivery.join(0.5)
        assert delivery.is_alive(), "the delivery must wait for the lock, not fail"
        # The event loop is free: the service answers while the delivery waits.
        for _ in range(3):
            assert httpx.get(server + "/healthz", timeout=2).status_code == 200
        assert delivery.is_alive()
        assert count(engine, Incident) == 0
    finally:
        other.execute("ROLLBACK")
        other.close()
    delivery.join(10)
    assert [a.status_code for a in answers] == [200]
    assert answers[0].json()["outcome"] == "created"
    assert count(engine, Incident) == 1
    assert stores(httpx.get(server + "/metrics").text) == {"thread": 1.0}


def stores(metrics_text: str) -> dict[str, float]:
    """oncall_webhook_stores_total by where, from /metrics."""
    return {
        sample.labels["where"]: sample.value
        for family in text_string_to_metric_families(metrics_text)
        if family.name == "oncall_webhook_stores"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def test_small_deliveries_are_stored_on_the_loop_and_large_ones_in_a_thread(
    database: tuple[Engine, Path], clock: FrozenClock
) -> None:
    engine, _ = database
    storm = payload("storm-200")
    large = copy.deepcopy(storm)
    large["groupKey"] += "-large"
    large["alerts"] = [
        {**alert, "fingerprint": f"{n:04d}{alert['fingerprint'][4:]}"}
        for n, alert in enumerate(storm["alerts"] * 6)
    ][: INLINE_MAX_ALERTS + 1]
    app = create_app(
        Settings(ONCALL_DATABASE_URL="sqlite://"), engine=engine, clock=clock, background=False
    )
    with TestClient(app) as client:
        assert client.post(URL, json=payload("drift-firing")).json()["outcome"] == "created"
        joined = client.post(URL, json=storm).json()  # the same group: it joins the incident
        assert (joined["outcome"], joined["new_alerts"]) == ("updated", 200)
        assert stores(client.get("/metrics").text) == {"event_loop": 2.0}
        answer = client.post(URL, json=large).json()
        assert (answer["outcome"], answer["new_alerts"]) == ("created", INLINE_MAX_ALERTS + 1)
        assert stores(client.get("/metrics").text) == {"event_loop": 2.0, "thread": 1.0}
    assert count(engine, Incident) == 2


def test_a_connection_gets_its_normal_lock_wait_back_after_a_delivery(
    database: tuple[Engine, Path], clock: FrozenClock
) -> None:
    engine, _ = database
    app = create_app(
        Settings(ONCALL_DATABASE_URL="sqlite://"), engine=engine, clock=clock, background=False
    )
    with TestClient(app) as client:
        assert client.post(URL, json=payload("drift-firing")).status_code == 200
    # The pool hands out the connection the delivery used (the only one it holds).
    assert engine.pool.checkedin() == 1
    with engine.connect() as connection:
        wait = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    assert wait == SQLITE_BUSY_TIMEOUT_MS
