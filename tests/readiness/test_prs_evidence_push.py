"""Runs of tests and data checks pushed from CI: the latest one decides its check."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prs_helpers import T0
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from oncall import migrate
from oncall.app import create_app
from oncall.catalog.loader import load_catalog
from oncall.catalog.service import apply_catalog
from oncall.cli import app as cli
from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.db import make_engine
from oncall.readiness.models import CheckStatus, RecordedRun
from oncall.readiness.service import model_prs

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "oncall.yaml"
TOKEN = "ci-t0ken-for-prs"


@pytest.fixture
def ci(catalog: Engine, clock: FrozenClock) -> TestClient:
    settings = Settings(ONCALL_DATABASE_URL="sqlite://", ONCALL_WEBHOOK_TOKEN=TOKEN)
    return TestClient(create_app(settings, engine=catalog, clock=clock, background=False))


def push(client: TestClient, model: str = "ltv", **body: object) -> object:
    return client.post(
        f"/api/v1/models/{model}/evidence",
        json={"check": "testing.unit", "result": "passed", **body},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


def runs(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(RecordedRun)).one())


def test_a_passed_run_makes_the_check_automated_and_a_failed_one_failing(
    ci: TestClient, catalog: Engine
) -> None:
    with Session(catalog) as session:
        before = model_prs(session, "ltv", now=T0)
    answer = push(ci, commit="a1b2c3d", detail="412 passed", by="emily")
    assert answer.status_code == 201, answer.text  # type: ignore[attr-defined]
    check = answer.json()["check"]  # type: ignore[attr-defined]
    assert check["status"] == "automated"
    assert check["evidence"]["source"] == "pushed by emily"
    assert "passed at commit a1b2c3d" in check["evidence"]["detail"]
    assert answer.json()["percent"] > before.percent  # type: ignore[attr-defined,operator]
    later = push(ci, result="failed", at=(T0 + timedelta(seconds=1)).isoformat())
    assert later.status_code == 201, later.text  # type: ignore[attr-defined]
    assert later.json()["check"]["status"] == "failing"  # type: ignore[attr-defined]


def test_a_pushed_run_wins_over_the_declared_fact_until_it_is_30_days_old(
    ci: TestClient, catalog: Engine
) -> None:
    # churn declares its unit tests automated; CI says they failed.
    push(ci, model="churn", result="failed", at=(T0 - timedelta(days=2)).isoformat())
    with Session(catalog) as session:
        now = {c.id: c for c in model_prs(session, "churn", now=T0).checks}
        month = {c.id: c for c in model_prs(session, "churn", now=T0 + timedelta(days=29)).checks}
        before = {c.id: c for c in model_prs(session, "churn", now=T0 - timedelta(days=3)).checks}
    assert now["testing.unit"].status is CheckStatus.failing
    assert month["testing.unit"].status is CheckStatus.stale
    assert "over 30 days old" in month["testing.unit"].improve
    assert before["testing.unit"].status is CheckStatus.automated  # the run had not happened


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"check": "governance.approval"}, "check"),
        ({"result": "green"}, "result"),
        ({"at": (T0 + timedelta(hours=1)).isoformat()}, "at"),
        ({"at": "2026-03-03T10:00:00"}, "at"),
        ({"commit": "a1b2; rm -rf"}, "commit"),
        ({"by": "nobody"}, "by"),
    ],
)
def test_a_bad_run_is_refused_with_the_field_and_changes_nothing(
    ci: TestClient, catalog: Engine, body: dict[str, object], field: str
) -> None:
    answer = push(ci, **body)
    assert answer.status_code == 422, answer.text  # type: ignore[attr-defined]
    assert answer.json()["detail"][0]["loc"][-1] == field  # type: ignore[attr-defined]
    assert runs(catalog) == 0


def test_pushing_needs_the_token_and_a_known_model(ci: TestClient, catalog: Engine) -> None:
    refused = ci.post(
        "/api/v1/models/ltv/evidence", json={"check": "testing.unit", "result": "passed"}
    )
    assert refused.status_code == 401
    assert push(ci, model="nope").status_code == 404  # type: ignore[attr-defined]
    assert runs(catalog) == 0


def test_oncall_evidence_push_records_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'oncall.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with Session(engine) as session:
        apply_catalog(session=session, spec=load_catalog(EXAMPLE), now=T0)
        session.commit()
    monkeypatch.setenv("ONCALL_DATABASE_URL", url)
    result = CliRunner().invoke(
        cli,
        [
            "evidence",
            "push",
            "ltv",
            "testing.integration",
            "passed",
            "--commit",
            "abc123",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["check"]["status"] == "automated"
    assert runs(engine) == 1
    bad = CliRunner().invoke(cli, ["evidence", "push", "ltv", "testing.unit", "flaky"])
    assert bad.exit_code == 1 and "result 'flaky': use passed or failed" in bad.output
    assert runs(engine) == 1
    engine.dispose()
