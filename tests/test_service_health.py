"""`oncall serve`: liveness, readiness, metrics, OpenAPI, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from oncall import migrate
from oncall.app import create_app
from oncall.cli import app as cli
from oncall.config import Settings
from oncall.db import make_engine
from oncall.incidents.models import Incident, group_hash
from oncall.leases import SCHEDULER, Lease

T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def client_for(engine: Engine) -> TestClient:
    settings = Settings(ONCALL_DATABASE_URL=str(engine.url))
    return TestClient(create_app(settings, engine=engine, background=False))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def unmigrated(request: pytest.FixtureRequest) -> Engine:
    """A database with no tables at all, on SQLite and PostgreSQL."""
    # conftest's fixtures: pg_engine skips without ONCALL_TEST_POSTGRES_URL.
    engine: Engine = request.getfixturevalue(
        "pg_engine" if request.param == "postgres" else "empty_engine"
    )
    return engine


def test_healthz_answers_ok(empty_engine: Engine) -> None:
    with client_for(empty_engine) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_fails_before_migrations_and_passes_after(unmigrated: Engine) -> None:
    with client_for(unmigrated) as client:
        before = client.get("/readyz")
        assert before.status_code == 503
        assert before.json()["status"] == "unavailable"
        assert "oncall db upgrade" in before.json()["reason"]
        assert before.json()["current"] is None
        assert before.json()["head"] == migrate.head_revision()

        migrate.upgrade(unmigrated)

        after = client.get("/readyz")
        assert after.status_code == 200
        assert after.json() == {"status": "ok", "migration": migrate.head_revision()}


def test_readyz_fails_when_the_database_is_unreachable() -> None:
    # Nothing listens on a port just freed: the connection is refused.
    engine = make_engine(f"postgresql://oncall@127.0.0.1:{free_port()}/oncall?connect_timeout=3")
    try:
        with client_for(engine) as client:
            ready = client.get("/readyz")
            live = client.get("/healthz")
    finally:
        engine.dispose()
    assert ready.status_code == 503
    assert ready.json()["reason"].startswith("database unreachable")
    assert "oncall@" not in ready.text  # no connection details leak
    assert live.status_code == 200  # a restart would not fix the database: stay alive


def test_metrics_expose_open_incidents_in_prometheus_text_format(engine: Engine) -> None:
    incidents = [
        ("triggered", "critical"),
        ("triggered", "critical"),
        ("acknowledged", "warning"),
        ("resolved", "critical"),  # not open: not counted
    ]
    with Session(engine) as session:
        for number, (status, severity) in enumerate(incidents):
            session.add(
                Incident(
                    group_key=f"group-{number}",
                    group_hash=group_hash(f"group-{number}"),
                    title="drift",
                    status=status,
                    severity=severity,
                    triggered_at=T0,
                    escalation_started_at=T0,
                    updated_at=T0,
                )
            )
        session.commit()
    with client_for(engine) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert {
        "oncall_incidents_open",
        "oncall_outbox_pending",
        "oncall_outbox_failed",
        "oncall_alerts_received",
        "oncall_webhook_requests",
        "oncall_webhook_duration_seconds",
    } <= families.keys()
    open_incidents = {
        (s.labels["status"], s.labels["severity"]): s.value
        for s in families["oncall_incidents_open"].samples
    }
    assert open_incidents == {("triggered", "critical"): 2.0, ("acknowledged", "warning"): 1.0}


def test_openapi_and_docs_are_served(empty_engine: Engine) -> None:
    with client_for(empty_engine) as client:
        schema = client.get("/openapi.json")
        docs = client.get("/docs")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/healthz", "/readyz", "/api/v1/alerts/alertmanager"} <= paths.keys()
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    assert "/openapi.json" in docs.text


def _oncall_command() -> list[str]:
    script = Path(sys.executable).with_name("oncall")
    return [str(script)] if script.exists() else [sys.executable, "-m", "oncall.cli"]


def test_serve_answers_then_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'oncall.db'}"
    upgraded = CliRunner(env={"ONCALL_DATABASE_URL": url}).invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output

    port = free_port()
    env = {**os.environ, "ONCALL_DATABASE_URL": url}
    process = subprocess.Popen(
        [*_oncall_command(), "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        ready = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    ready = r.status
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        assert ready == 200, "the service did not become ready"

        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "Application shutdown complete" in output
    assert "oncall stopped" in output
    assert "Traceback" not in output
    # It gave the scheduler lease up on its way out: a standby takes over at once.
    engine = make_engine(url)
    with Session(engine) as s:
        lease = s.get(Lease, SCHEDULER)
    engine.dispose()
    assert lease is not None
    assert lease.expires_at <= datetime.now(UTC)
