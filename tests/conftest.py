"""Shared fixtures: a fresh database per test (SQLite always, PostgreSQL when configured),
the example catalog applied, a frozen clock, and the app behind a test client."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

import oncall.tables  # noqa: F401  (registers every table)
from oncall.app import create_app
from oncall.catalog.loader import load_catalog
from oncall.catalog.service import apply_catalog
from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.db import make_engine

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLE_CATALOG = FIXTURES / "oncall.yaml"
ALERTMANAGER = FIXTURES / "alertmanager"
POSTGRES_URL = os.environ.get("ONCALL_TEST_POSTGRES_URL")
NO_POSTGRES = "PostgreSQL not configured: set ONCALL_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"

# A Tuesday in the example catalog's first year, in New York's daytime.
T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_outside_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach the real Slack or PagerDuty, whatever the developer's shell exports."""
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "PAGERDUTY_ROUTING_KEY",
        "PAGERDUTY_WEBHOOK_SECRET",
        "ONCALL_PAGERDUTY_EVENTS_URL",
        "ONCALL_WEBHOOK_TOKEN",
        "ONCALL_DATABASE_URL",
        "ONCALL_CONFIG",
        "ONCALL_PROMETHEUS_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def postgres_engine() -> Iterator[Engine]:
    """An engine on a schema of its own, dropped afterwards, so tests never see each other."""
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # the server is configured but down: say so, do not pass silently
        admin.dispose()
        pytest.fail(f"ONCALL_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {exc}")
    url = POSTGRES_URL + ("&" if "?" in POSTGRES_URL else "?") + f"options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    yield from postgres_engine()


@pytest.fixture
def empty_engine(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite database file with no tables at all."""
    engine = make_engine(f"sqlite:///{tmp_path / 'oncall.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database with every table, on SQLite and (when configured) on PostgreSQL."""
    if request.param == "postgres":
        gen = postgres_engine()
        eng = next(gen)
    else:
        gen = None
        eng = make_engine(f"sqlite:///{tmp_path / 'oncall.db'}")
    SQLModel.metadata.create_all(eng)
    try:
        yield eng
    finally:
        if gen is not None:
            gen.close()
        else:
            eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'oncall.db'}")
    SQLModel.metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def catalog(engine: Engine) -> Engine:
    """The example catalog applied to `engine`."""
    with Session(engine) as s:
        apply_catalog(session=s, spec=load_catalog(EXAMPLE_CATALOG), now=T0)
        s.commit()
    return engine


@pytest.fixture
def settings() -> Settings:
    return Settings(ONCALL_DATABASE_URL="sqlite://")  # the engine is passed explicitly


@pytest.fixture
def client(catalog: Engine, settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(settings, engine=catalog, clock=clock, background=False)
    with TestClient(app) as c:
        yield c
