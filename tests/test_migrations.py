"""Migrations: upgrade an empty database to head, models and migrations agree, both ways."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError
from sqlmodel import Session, select
from typer.testing import CliRunner

from oncall import migrate
from oncall.catalog.models import CatalogRevision
from oncall.cli import app
from oncall.db import SQLITE_BUSY_TIMEOUT_MS, make_engine
from oncall.tables import metadata

CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def blank(request: pytest.FixtureRequest) -> Engine:
    """A database with no tables: an empty SQLite file, or a fresh PostgreSQL schema."""
    # conftest's fixtures: pg_engine skips without ONCALL_TEST_POSTGRES_URL.
    engine: Engine = request.getfixturevalue(
        "pg_engine" if request.param == "postgres" else "empty_engine"
    )
    return engine


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def alembic_check(engine: Engine) -> None:
    """`alembic check`: raises when the models hold a change that no migration makes."""
    config = migrate.alembic_config(url_of(engine))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.check(config)


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_of_an_empty_database_reaches_head_and_matches_the_models(blank: Engine) -> None:
    assert migrate.current_revision(blank) is None
    migrate.upgrade(blank)
    assert migrate.is_at_head(blank)
    assert tables(blank) == set(metadata.tables) | {"alembic_version"}
    alembic_check(blank)


def test_downgrade_to_base_and_upgrade_again(blank: Engine) -> None:
    migrate.upgrade(blank)
    config = migrate.alembic_config(url_of(blank))
    with blank.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert tables(blank) <= {"alembic_version"}
    assert migrate.current_revision(blank) is None

    migrate.upgrade(blank)
    assert migrate.is_at_head(blank)
    alembic_check(blank)


def test_alembic_command_line_from_a_checkout(blank: Engine) -> None:
    if not (CHECKOUT / "alembic.ini").exists():
        pytest.skip("not a checkout: alembic.ini is absent")
    env = {**os.environ, "ONCALL_DATABASE_URL": url_of(blank)}

    def alembic(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "alembic", *args],
            cwd=CHECKOUT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    upgraded = alembic("upgrade", "head")
    assert upgraded.returncode == 0, upgraded.stderr
    assert migrate.is_at_head(blank)  # the URL came from ONCALL_DATABASE_URL
    checked = alembic("check")
    assert checked.returncode == 0, checked.stderr
    assert "No new upgrade operations detected" in checked.stdout + checked.stderr


def test_db_upgrade_twice_says_already_at_head(blank: Engine) -> None:
    runner = CliRunner(env={"ONCALL_DATABASE_URL": url_of(blank)})
    head = migrate.head_revision()

    first = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert f"upgraded empty -> {head}" in first.stdout

    second = runner.invoke(app, ["db", "upgrade"])
    assert second.exit_code == 0, second.output
    assert f"already at {head}" in second.stdout
    assert migrate.is_at_head(blank)


def test_sqlite_connections_use_wal_a_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'oncall.db'}")  # folder is created
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            busy_timeout = conn.execute(text("PRAGMA busy_timeout")).scalar()
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()
    assert busy_timeout == SQLITE_BUSY_TIMEOUT_MS >= 1000  # writers wait, not fail at once


def test_timestamps_round_trip_as_aware_utc(engine: Engine) -> None:
    local = datetime(2026, 3, 8, 1, 30, tzinfo=ZoneInfo("America/New_York"))  # DST day
    with Session(engine) as session:
        session.add(CatalogRevision(applied_at=local, source="x", sha256="0" * 64, changes=[]))
        session.commit()
    with Session(engine) as session:
        stored = session.exec(select(CatalogRevision)).one().applied_at
    assert stored == local
    assert stored.utcoffset() == timedelta(0)
    assert stored.replace(tzinfo=None) == datetime(2026, 3, 8, 6, 30)
    assert stored.tzinfo is UTC


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(
            CatalogRevision(
                applied_at=datetime(2026, 3, 8, 1, 30), source="x", sha256="0" * 64, changes=[]
            )
        )
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()


def test_0002_moves_each_incidents_escalation_into_its_own_table(blank: Engine) -> None:
    """An incident stored before 0002 keeps where its escalation stood: a triggered one
    still fires its next step when due, an acknowledged one stays stopped and paged."""
    migrate.upgrade(blank, "0001")
    t0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
    stamp = t0.replace(tzinfo=None) if blank.dialect.name == "sqlite" else t0
    due = stamp + timedelta(minutes=15)
    with blank.begin() as conn:
        for incident_id, status, step, due_at, paged in (
            (1, "triggered", 1, due, None),
            (2, "acknowledged", 2, None, stamp),
        ):
            conn.execute(
                text(
                    "INSERT INTO incidents (id, group_key, group_hash, title, status, severity,"
                    " labels, truncated_alerts, triggered_at, escalation_started_at,"
                    " escalation_steps, escalation_step, escalation_due_at, paged_at,"
                    " acknowledged_at, updated_at) VALUES (:id, :g, :h, 't', :status,"
                    " 'warning', '{}', 0, :t0, :t0, :steps, :step, :due, :paged, :acked, :t0)"
                ),
                {
                    "id": incident_id,
                    "g": f"g{incident_id}",
                    "h": f"h{incident_id}",
                    "status": status,
                    "t0": stamp,
                    "steps": '[{"after": "0m", "notify": ["oncall"]}, '
                    '{"after": "15m", "notify": ["pagerduty"]}]',
                    "step": step,
                    "due": due_at,
                    "paged": paged,
                    "acked": stamp if status == "acknowledged" else None,
                },
            )
        # Rows that refer to the incidents, as in any database in use.
        conn.execute(
            text(
                "INSERT INTO incident_events (incident_id, at, kind, actor, text, data)"
                " VALUES (1, :t0, 'triggered', 'alertmanager', 'x', '{}')"
            ),
            {"t0": stamp},
        )
    migrate.upgrade(blank)
    from oncall.escalation.models import Escalation

    with Session(blank) as s:
        running = s.get(Escalation, 1)
        stopped = s.get(Escalation, 2)
    assert running is not None and stopped is not None
    assert (running.next_step, running.due_at, running.paged_at) == (
        1,
        t0 + timedelta(minutes=15),
        None,
    )
    assert [step["after"] for step in running.steps] == ["0m", "15m"]
    assert (stopped.next_step, stopped.due_at, stopped.paged_at) == (2, None, t0)
    assert stopped.stopped_at == t0
