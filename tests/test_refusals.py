"""Refused requests answer the same way everywhere: over HTTP each kind has its status and the
reason; on the command line it is `error: <reason>` and exit code 1, never a traceback."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner, Result

from oncall import migrate
from oncall.catalog.loader import load_catalog
from oncall.catalog.service import apply_catalog
from oncall.cli import app
from oncall.commands import common
from oncall.db import make_engine, session_scope
from oncall.escalation.models import Escalation
from oncall.incidents.alertmanager import AlertmanagerPayload
from oncall.incidents.ingest import ingest_alertmanager
from oncall.incidents.models import Incident, IncidentEvent
from oncall.outbox import OutboxMessage
from oncall.rotations.models import Override, Swap

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # the clock of conftest's `client`
R = "growth-primary"  # members emily, ryan, taka; emily leads the team
WEBHOOK = "/api/v1/alerts/alertmanager"


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "alertmanager" / f"{name}.json").read_text())
    return data


def override_body(start: datetime, end: datetime, person: str = "ana") -> dict[str, str]:
    return {"person_id": person, "starts_at": start.isoformat(), "ends_at": end.isoformat()}


def open_incident(client: TestClient) -> int:
    response = client.post(WEBHOOK, json=payload("batch-failure-firing"))
    assert response.status_code == 200, response.text
    incident_id: int = response.json()["incident_id"]
    return incident_id


# --- HTTP ------------------------------------------------------------------------------------


def test_unknown_ids_are_404_naming_what_is_unknown(client: TestClient) -> None:
    rotation = client.get("/api/v1/oncall", params={"rotation": "nope"})
    assert (rotation.status_code, rotation.json()) == (404, {"detail": "unknown rotation 'nope'"})
    incident = client.post("/api/v1/incidents/999/ack")
    assert (incident.status_code, incident.json()) == (404, {"detail": "unknown incident 999"})
    feed = client.get("/calendar/not-a-token.ics")
    assert (feed.status_code, feed.json()) == (
        404,
        {"detail": "no such calendar feed (unknown or revoked token)"},
    )


def test_impossible_requests_are_422_naming_the_field_and_the_reason(client: TestClient) -> None:
    start = T0 + timedelta(days=1)
    backwards = client.post(
        f"/api/v1/rotations/{R}/overrides", json=override_body(start, start - timedelta(hours=1))
    )
    assert backwards.status_code == 422
    [problem] = backwards.json()["detail"]
    assert problem["loc"] == ["body", "end"]
    assert problem["msg"].startswith("the override ends (") and "before it starts" in problem["msg"]

    incident_id = open_incident(client)
    blank = client.post(f"/api/v1/incidents/{incident_id}/notes", json={"text": "   "})
    assert blank.status_code == 422
    assert blank.json()["detail"] == [
        {"loc": ["body", "text"], "msg": "a note needs text", "type": "value_error"}
    ]


def test_acting_for_someone_else_without_being_a_lead_is_403_saying_who_may(
    client: TestClient,
) -> None:
    start = T0 + timedelta(days=1)
    refused = client.post(
        f"/api/v1/rotations/{R}/overrides",
        params={"by": "ben"},
        json=override_body(start, start + timedelta(hours=4)),
    )
    assert (refused.status_code, refused.json()) == (
        403,
        {"detail": "'ben' may not add overrides for others: only ana or a team lead"},
    )


def test_acknowledging_a_resolved_incident_is_409(client: TestClient) -> None:
    incident_id = open_incident(client)
    assert client.post(f"/api/v1/incidents/{incident_id}/resolve").status_code == 200
    conflict = client.post(f"/api/v1/incidents/{incident_id}/ack")
    assert (conflict.status_code, conflict.json()) == (
        409,
        {"detail": f"incident {incident_id} is resolved; nothing to acknowledge"},
    )


def _incident_state(engine: Engine, incident_id: int) -> tuple[Any, ...]:
    with Session(engine) as s:
        incident = s.get(Incident, incident_id)
        assert incident is not None
        events = s.exec(
            select(func.count())
            .select_from(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
        ).one()
        outbox = s.exec(select(func.count()).select_from(OutboxMessage)).one()
        escalation = s.get(Escalation, incident_id)
        assert escalation is not None
        return (incident.status, incident.updated_at, escalation.next_step, events, outbox)


def test_an_unknown_actor_is_refused_with_422_and_changes_nothing(
    client: TestClient, catalog: Engine
) -> None:
    incident_id = open_incident(client)
    before = _incident_state(catalog, incident_id)
    url = f"/api/v1/incidents/{incident_id}"
    attempts = [
        client.post(f"{url}/ack", params={"by": "mallory"}),
        client.post(f"{url}/ack", json={"by": "mallory"}),
        client.post(f"{url}/resolve", json={"by": "mallory", "note": "done"}),
        client.post(f"{url}/notes", json={"by": "mallory", "text": "hello"}),
        client.post(f"{url}/escalate", params={"by": "mallory"}),
    ]
    start = T0 + timedelta(days=1)
    attempts.append(
        client.post(
            f"/api/v1/rotations/{R}/overrides",
            params={"by": "mallory"},
            json=override_body(start, start + timedelta(hours=4)),
        )
    )
    for refused in attempts:
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"] == [
            {"loc": ["body", "by"], "msg": "unknown person 'mallory' (by)", "type": "value_error"}
        ]
    assert _incident_state(catalog, incident_id) == before
    with Session(catalog) as s:
        assert s.exec(select(Override)).all() == []
        assert s.exec(select(Swap)).all() == []


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[CliRunner, int]]:
    """A migrated database with the example catalog and one open incident (its id)."""
    url = f"sqlite:///{tmp_path / 'oncall.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with session_scope(engine) as s:
        apply_catalog(session=s, spec=load_catalog(FIXTURES / "oncall.yaml"), now=T0)
    with session_scope(engine) as s:
        result = ingest_alertmanager(
            session=s,
            payload=AlertmanagerPayload.model_validate(payload("batch-failure-firing")),
            now=T0,
        )
    with Session(engine) as s:
        [incident_id] = s.exec(select(Incident.id)).all()
    engine.dispose()
    assert result is not None and incident_id is not None
    monkeypatch.setattr(common, "now", lambda: T0)
    yield CliRunner(env={"ONCALL_DATABASE_URL": url}), incident_id


def refused(result: Result) -> str:
    """The one line a refused command prints, after checking it failed as a refusal does."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    line: str = result.stderr.strip()
    assert "\n" not in line
    return line


def test_each_kind_of_refusal_is_one_error_line_and_exit_code_1(
    cli: tuple[CliRunner, int],
) -> None:
    runner, incident_id = cli

    def oncall(command: str) -> Result:
        return runner.invoke(app, shlex.split(command))

    # UnknownEntity
    assert refused(oncall("who --rotation nope")) == "error: unknown rotation 'nope'"
    assert refused(oncall("incidents show 999")) == "error: unknown incident 999"
    # InvalidRequest
    assert refused(
        oncall(f"override add {R} --person ana --from 2026-03-04T12:00 --to 2026-03-04T00:00")
    ) == (
        "error: the override ends (2026-03-04T00:00:00+00:00) "
        "before it starts (2026-03-04T12:00:00+00:00)"
    )
    # NotAllowed
    assert refused(
        oncall(
            f"override add {R} --person ana --by ben --from 2026-03-04T00:00 --to 2026-03-04T12:00"
        )
    ) == ("error: 'ben' may not add overrides for others: only ana or a team lead")
    # Conflict
    assert oncall(f"incidents resolve {incident_id}").exit_code == 0
    assert refused(oncall(f"incidents ack {incident_id}")) == (
        f"error: incident {incident_id} is resolved; nothing to acknowledge"
    )


def test_an_unknown_actor_on_the_command_line_is_refused_and_changes_nothing(
    cli: tuple[CliRunner, int],
) -> None:
    runner, incident_id = cli
    for command in (
        f"incidents ack {incident_id} --by mallory",
        f"incidents resolve {incident_id} --by mallory",
        f"override add {R} --person ana --by mallory --from 2026-03-04T00:00 --to 2026-03-04T12:00",
    ):
        result = runner.invoke(app, shlex.split(command))
        assert refused(result) == "error: unknown person 'mallory' (by)"
    shown = runner.invoke(app, ["incidents", "show", str(incident_id), "--json"])
    assert json.loads(shown.stdout)["status"] == "triggered"
    listed = runner.invoke(app, ["override", "list", "--json"])
    assert json.loads(listed.stdout) == []
