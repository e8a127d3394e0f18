"""Bad input gets a clear 4xx and changes nothing; our own trouble answers 503 (Alertmanager
then retries)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from helpers import ALERTMANAGER, count, payload
from sqlalchemy.engine import Engine

from oncall.app import create_app
from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.db import make_engine
from oncall.incidents.models import Alert, Incident
from oncall.outbox import OutboxMessage

URL = "/api/v1/alerts/alertmanager"


def nothing_stored(engine: Engine) -> bool:
    return count(engine, Incident) == count(engine, Alert) == count(engine, OutboxMessage) == 0


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "not JSON"),
        (b"\xff\xfe", 400, "not JSON"),
        (b"[1, 2]", 422, "JSON object"),
        (json.dumps({"version": "4", "status": "firing", "groupKey": "k"}).encode(), 422, "alerts"),
        (json.dumps({**payload("drift-firing"), "version": "3"}).encode(), 422, "version"),
        (json.dumps({**payload("drift-firing"), "alerts": []}).encode(), 422, "alerts"),
        (
            json.dumps({**payload("drift-firing"), "alerts": [{"status": "firing"}]}).encode(),
            422,
            "labels",
        ),
        (json.dumps({**payload("drift-firing"), "status": "exploded"}).encode(), 422, "status"),
    ],
    ids=[
        "malformed",
        "not-utf8",
        "array",
        "missing-alerts",
        "old-version",
        "empty-alerts",
        "alert-without-fields",
        "bad-status",
    ],
)
def test_bad_payload_is_refused_with_a_reason_and_nothing_changes(
    client: TestClient, catalog: Engine, body: bytes, status: int, reason: str
) -> None:
    response = client.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert reason in response.text
    assert nothing_stored(catalog)


def test_body_over_the_limit_is_413(catalog: Engine, clock: FrozenClock) -> None:
    settings = Settings(ONCALL_MAX_BODY_BYTES=50_000)
    app = create_app(settings, engine=catalog, clock=clock, background=False)
    storm = (ALERTMANAGER / "storm-200.json").read_bytes()
    with TestClient(app) as client:
        response = client.post(URL, content=storm, headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert "limit" in response.json()["detail"]

        # Without Content-Length (chunked), the limit still holds.
        def chunks():  # type: ignore[no-untyped-def]
            for i in range(0, len(storm), 8192):
                yield storm[i : i + 8192]

        response = client.post(URL, content=chunks(), headers={"Content-Type": "application/json"})
        assert response.status_code == 413
    assert nothing_stored(catalog)


def test_default_limit_accepts_the_200_alert_storm(client: TestClient, catalog: Engine) -> None:
    storm = (ALERTMANAGER / "storm-200.json").read_bytes()
    assert len(storm) > 100_000
    response = client.post(URL, content=storm, headers={"Content-Type": "application/json"})
    assert response.status_code == 200


def test_webhook_token_is_required_when_configured(catalog: Engine, clock: FrozenClock) -> None:
    headers = json.loads((ALERTMANAGER / "headers.json").read_text())["headers"]
    settings = Settings(ONCALL_WEBHOOK_TOKEN="fixture-secret-token")
    app = create_app(settings, engine=catalog, clock=clock, background=False)
    body = payload("gpu-xid-firing")
    with TestClient(app) as client:
        assert client.post(URL, json=body).status_code == 401
        wrong = client.post(
            URL, json=body, headers={"Authorization": "Bearer fixture-secret-tokeN"}
        )
        assert wrong.status_code == 401
        basic = client.post(URL, json=body, headers={"Authorization": "Basic fixture-secret-token"})
        assert basic.status_code == 401
        assert nothing_stored(catalog)
        ok = client.post(URL, json=body, headers={"Authorization": headers["Authorization"]})
        assert ok.status_code == 200
    assert count(catalog, Incident) == 1


def test_database_down_answers_503_so_alertmanager_retries(clock: FrozenClock) -> None:
    down = make_engine("postgresql://postgres@127.0.0.1:9/nowhere")
    app = create_app(Settings(), engine=down, clock=clock, background=False)
    with TestClient(app) as client:
        response = client.post(URL, json=payload("drift-firing"))
    assert response.status_code == 503
    assert "retry" in response.json()["detail"]
    down.dispose()
