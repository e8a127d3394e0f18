"""PRS where people see it: the HTTP API, /metrics, `oncall prs`, and the leader's daily job."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prs_helpers import T0, FixedEvidence, talk_readings
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from oncall import migrate
from oncall.app import create_app
from oncall.catalog.loader import load_catalog
from oncall.catalog.models import Model
from oncall.catalog.service import apply_catalog
from oncall.cli import app as cli
from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.db import make_engine
from oncall.metrics import ServiceMetrics
from oncall.readiness.service import prs_at
from oncall.scheduler import leader_jobs

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "oncall.yaml"


def test_api_gives_the_breakdown_with_live_evidence_and_gaps_first(client: TestClient) -> None:
    client.app.state.live = FixedEvidence(talk_readings())  # type: ignore[attr-defined]
    answer = client.get("/api/v1/models/ltv/prs")
    assert answer.status_code == 200
    body = answer.json()
    assert body["model_id"] == "ltv" and body["live"] is True and body["percent"] < 10
    checks = {c["id"]: c for c in body["checks"]}
    assert checks["operations.batch"]["status"] == "failing"
    assert checks["operations.batch"]["evidence"]["source"] == "http://prometheus.test:9090"
    assert body["gaps"][0] == "operations.batch"  # broken before not done
    assert body["sections"][0]["id"] == "documentation"


def test_api_without_prometheus_is_partial_and_unknown_models_are_404(client: TestClient) -> None:
    body = client.get("/api/v1/models/churn/prs").json()
    assert body["partial"] is True and body["live"] is False and body["percent"] > 0
    missing = client.get("/api/v1/models/nope/prs")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "unknown model 'nope'"}


def test_snapshot_on_demand_then_read_as_it_was(client: TestClient, clock: FrozenClock) -> None:
    assert client.get("/api/v1/models/churn/prs", params={"at": T0.isoformat()}).status_code == 404
    client.app.state.live = FixedEvidence(talk_readings())  # type: ignore[attr-defined]
    taken = client.post("/api/v1/models/churn/prs/snapshots")
    assert taken.status_code == 201
    clock.advance(timedelta(days=2))
    client.app.state.live = None  # type: ignore[attr-defined]
    now = client.get("/api/v1/models/churn/prs").json()
    then = client.get(
        "/api/v1/models/churn/prs", params={"at": (T0 + timedelta(days=1)).isoformat()}
    ).json()
    assert then == taken.json() and then["live"] is True
    assert now["live"] is False and now["percent"] != then["percent"]
    assert client.post("/api/v1/models/nope/prs/snapshots").status_code == 404


def test_snapshot_on_demand_takes_the_webhook_token(catalog: Engine, clock: FrozenClock) -> None:
    settings = Settings(ONCALL_DATABASE_URL="sqlite://", ONCALL_WEBHOOK_TOKEN="t0k-prs-1234")
    app = create_app(settings, engine=catalog, clock=clock, background=False)
    with TestClient(app) as client:
        assert client.post("/api/v1/models/churn/prs/snapshots").status_code == 401
        with Session(catalog) as session:
            assert prs_at(session, "churn", at=T0) is None  # a refused request changes nothing
        ok = client.post(
            "/api/v1/models/churn/prs/snapshots",
            headers={"Authorization": "Bearer t0k-prs-1234"},
        )
        assert ok.status_code == 201


def prs_gauges(client: TestClient) -> dict[str, float]:
    lines = [
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("oncall_model_prs_percent{")
    ]
    return {line.split("{")[1].split("}")[0]: float(line.split()[-1]) for line in lines}


def test_metrics_show_each_models_latest_prs(
    client: TestClient, clock: FrozenClock, catalog: Engine
) -> None:
    assert "oncall_model_prs_percent{" not in client.get("/metrics").text
    client.post("/api/v1/models/ltv/prs/snapshots")
    client.app.state.live = FixedEvidence(talk_readings())  # type: ignore[attr-defined]
    clock.advance(timedelta(hours=1))
    client.post("/api/v1/models/ltv/prs/snapshots")  # the latest one counts
    client.post("/api/v1/models/churn/prs/snapshots")
    values = prs_gauges(client)
    churn = values['model="churn",team="growth-ds"']
    ltv = values['model="ltv",team="growth-ds"']
    assert 75 <= churn <= 85 and ltv < 10 and len(values) == 2
    with Session(catalog) as session:  # a model retired from the catalog leaves /metrics
        model = session.get(Model, "ltv")
        assert model is not None
        model.retired_at = T0
        session.add(model)
        session.commit()
    assert list(prs_gauges(client)) == ['model="churn",team="growth-ds"']


def test_the_leaders_jobs_include_the_daily_prs_snapshot(catalog: Engine) -> None:
    live = FixedEvidence(talk_readings())
    jobs = {
        j.name: j
        for j in leader_jobs(
            clock=FrozenClock(T0),
            max_age=timedelta(hours=24),
            metrics=ServiceMetrics(catalog),
            live=live,
        )
    }
    job = jobs["prs-snapshot"]
    assert job.run(catalog, T0) == 2
    assert job.run(catalog, T0 + timedelta(minutes=10)) == 0
    with Session(catalog) as session:
        stored = prs_at(session, "churn", at=T0)
    assert stored is not None and stored.live


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'oncall.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with Session(engine) as session:
        apply_catalog(session=session, spec=load_catalog(EXAMPLE), now=T0)
        session.commit()
    engine.dispose()
    monkeypatch.setenv("ONCALL_DATABASE_URL", url)
    return url


def test_cli_table_says_which_evidence_and_lists_every_model(database: str) -> None:
    result = CliRunner().invoke(cli, ["prs"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("evidence: declared only (ONCALL_PROMETHEUS_URL is not set")
    rows = {line.split()[0]: line for line in lines[3:]}
    assert set(rows) == {"churn", "ltv"}
    assert "yes" in rows["churn"]  # partial


def test_cli_one_model_shows_the_top_gaps_first_and_json(database: str) -> None:
    result = CliRunner().invoke(cli, ["prs", "churn"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.index("Top gaps:") < text.index("Documentation:")
    assert "1. Model card [missing]: Write a model card" in text
    as_json = CliRunner().invoke(cli, ["prs", "churn", "--json"])
    data = json.loads(as_json.stdout)
    assert data["model_id"] == "churn" and data["gaps"][0] == "documentation.model_card"


def test_cli_snapshot_stores_and_unknown_model_is_an_error(database: str) -> None:
    stored = CliRunner().invoke(cli, ["prs", "--snapshot", "--json"])
    assert stored.exit_code == 0, stored.output
    assert [p["model_id"] for p in json.loads(stored.stdout)] == ["churn", "ltv"]
    engine = make_engine(database)
    with Session(engine) as session:
        assert prs_at(session, "ltv", at=T0 + timedelta(days=3650)) is not None
    engine.dispose()
    unknown = CliRunner().invoke(cli, ["prs", "nope"])
    assert unknown.exit_code == 1
    assert "error: unknown model 'nope'" in unknown.output


def test_cli_with_prometheus_down_still_scores_and_says_so(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("ONCALL_PROMETHEUS_URL", f"http://127.0.0.1:{port}")
    result = CliRunner().invoke(cli, ["prs"])
    assert result.exit_code == 0, result.output
    assert "did not answer (cannot connect); live checks unknown, scores partial" in result.stdout
