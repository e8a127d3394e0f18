"""`oncall incidents ...` against a real migrated SQLite database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import ALERTMANAGER, payload
from typer.testing import CliRunner

from oncall import migrate
from oncall.catalog.loader import load_catalog
from oncall.catalog.service import apply_catalog
from oncall.cli import app
from oncall.db import make_engine, session_scope
from oncall.incidents.alertmanager import AlertmanagerPayload
from oncall.incidents.ingest import ingest_alertmanager

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("ONCALL_DATABASE_URL", url)
    engine = make_engine(url)
    migrate.upgrade(engine)
    now = datetime.now(UTC)
    with session_scope(engine) as s:
        apply_catalog(session=s, spec=load_catalog(ALERTMANAGER.parent / "oncall.yaml"), now=now)
    for name in ("drift-firing", "gpu-xid-firing"):
        with session_scope(engine) as s:
            ingest_alertmanager(
                session=s, payload=AlertmanagerPayload.model_validate(payload(name)), now=now
            )
    engine.dispose()
    return url


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_list_shows_open_incidents_and_json_is_parseable(database: str) -> None:
    code, out = invoke("incidents", "list")
    assert code == 0
    assert "Drift score 0.9 for model churn" in out
    assert "triggered" in out
    code, out = invoke("incidents", "list", "--json")
    rows = json.loads(out)
    assert {r["model_id"] for r in rows} == {"churn", None}
    assert {r["severity"] for r in rows} == {"warning", "critical"}


def test_ack_then_resolve_from_the_command_line(database: str) -> None:
    rows = json.loads(invoke("incidents", "list", "--json")[1])
    churn = next(r["id"] for r in rows if r["model_id"] == "churn")

    code, out = invoke("incidents", "ack", str(churn), "--by", "taka")
    assert code == 0 and "acknowledged by taka" in out
    code, out = invoke("incidents", "resolve", str(churn), "--note", "retrained")
    assert code == 0 and "resolved" in out

    shown = json.loads(invoke("incidents", "show", str(churn), "--json")[1])
    assert shown["status"] == "resolved"
    assert shown["acknowledged_by"] == "taka"
    assert [e["kind"] for e in shown["timeline"]][-2:] == ["acknowledged", "resolved"]
    assert shown["alerts"][0]["labels"]["model"] == "churn"

    code, out = invoke("incidents", "list", "--status", "resolved")
    assert code == 0 and f"#{churn}" in out


def test_errors_are_messages_not_tracebacks(database: str) -> None:
    code, out = invoke("incidents", "show", "999")
    assert code == 1 and "unknown incident 999" in out
    code, out = invoke("incidents", "ack", "1", "--by", "nobody")
    assert code == 1 and "unknown person 'nobody'" in out
    code, out = invoke("incidents", "list", "--status", "open")
    assert code == 1 and "triggered, acknowledged, resolved" in out
    assert "Traceback" not in out


def test_show_prints_the_timeline(database: str) -> None:
    code, out = invoke("incidents", "show", "2")
    assert code == 0
    assert "GPUXidError" in out or "gpu" in out.lower()
    assert "timeline:" in out
    assert "paged PagerDuty" in out
