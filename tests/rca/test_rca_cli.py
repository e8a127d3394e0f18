"""`oncall rca ...` against a real migrated SQLite database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rca_helpers import ingest, provider, resolve, score
from typer.testing import CliRunner

from oncall import migrate
from oncall.catalog.loader import load_catalog
from oncall.catalog.service import apply_catalog
from oncall.cli import app
from oncall.db import make_engine, session_scope
from oncall.rca import service

EXAMPLE = Path(__file__).parents[1] / "fixtures" / "oncall.yaml"
runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated database with the example catalog and a resolved churn incident (#1)."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("ONCALL_DATABASE_URL", url)
    monkeypatch.setenv("ONCALL_PUBLIC_URL", "https://oncall.example.com")
    engine = make_engine(url)
    migrate.upgrade(engine)
    now = datetime.now(UTC) - timedelta(hours=2)
    with session_scope(engine) as s:
        apply_catalog(session=s, spec=load_catalog(EXAMPLE), now=now)
    incident_id = ingest(engine, "drift-firing", now)
    resolve(engine, incident_id, "emily", now + timedelta(minutes=30))
    engine.dispose()
    return url


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_generate_writes_the_markdown_to_a_file(database: str, tmp_path: Path) -> None:
    target = tmp_path / "rca-1.md"

    code, out = invoke("rca", "generate", "1", "-o", str(target))

    assert code == 0, out
    assert out.strip() == f"RCA of incident #1 drafted: {target}"
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# RCA: incident #1: Drift score 0.9 for model churn")
    assert "[incident #1](https://oncall.example.com/incidents/1)" in text
    code, out = invoke("rca", "generate", "1")  # no -o: the refreshed document on stdout
    assert code == 0
    assert out.startswith("# RCA: incident #1: Drift score 0.9 for model churn")
    assert out.rstrip().endswith("_To be completed._")


def test_generate_for_an_unknown_incident_names_it(database: str) -> None:
    code, out = invoke("rca", "generate", "42")

    assert code == 1
    assert "error: unknown incident 42" in out


def test_list_done_and_action_done(database: str) -> None:
    assert invoke("rca", "list")[1].strip() == "no RCAs"
    engine = make_engine(database)
    with session_scope(engine) as s:
        # One proposed action item, already past its due date.
        gaps = score("churn", datetime.now(UTC), {"operations.rollback_plan": "missing"})
        service.generate(
            session=s,
            incident_id=1,
            now=datetime.now(UTC) - timedelta(days=40),
            prs_provider=provider(gaps),
        )
    engine.dispose()

    code, out = invoke("rca", "list", "--overdue")
    assert code == 0, out
    assert out.startswith("#1     draft      churn          1 open, 1 overdue of 1 item(s)")
    assert "1. Operations: rollback plan: make rollback plan automated (owner emily, due" in out
    rows = json.loads(invoke("rca", "list", "--json")[1])
    assert [(r["incident_id"], r["status"]) for r in rows] == [(1, "draft")]
    assert rows[0]["action_items"][0]["overdue"] is True

    code, out = invoke("rca", "done", "1")
    assert code == 1
    assert "root cause" in out
    code, out = invoke("rca", "done", "1", "--root-cause", "Units changed upstream.")
    assert code == 0, out
    assert out.strip() == "RCA of incident #1 is done"

    code, out = invoke("rca", "action", "done", "1", "1")
    assert code == 0, out
    assert out.startswith("RCA #1 action 1 done: Operations: rollback plan")
    assert invoke("rca", "list", "--overdue")[1].strip() == "no RCAs with overdue action items"
    code, out = invoke("rca", "action", "done", "1", "7")
    assert code == 1 and "has no action item 7" in out
    [row] = json.loads(invoke("rca", "list", "--json")[1])
    assert row["status"] == "done" and row["root_cause"] == "Units changed upstream."
    assert row["action_items"][0]["status"] == "done"


def test_list_rejects_an_unknown_status(database: str) -> None:
    code, out = invoke("rca", "list", "--status", "closed")

    assert code == 1
    assert "status 'closed' is not one of draft, in_review, done" in out
