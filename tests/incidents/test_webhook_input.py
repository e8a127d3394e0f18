"""Only an unusable envelope gets a 4xx (Alertmanager never retries one), with a reason and
nothing changed; malformed alerts inside a usable one are repaired or counted, the rest stored;
our own trouble answers 503 (Alertmanager then retries)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers import ALERTMANAGER, count, payload
from sqlalchemy.engine import Engine

from oncall.app import create_app
from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.db import make_engine
from oncall.incidents.alertmanager import label_fingerprint
from oncall.incidents.models import Alert, Incident, IncidentEvent
from oncall.outbox import OutboxMessage

URL = "/api/v1/alerts/alertmanager"


def nothing_stored(engine: Engine) -> bool:
    return count(engine, Incident) == count(engine, Alert) == count(engine, OutboxMessage) == 0


def rows(engine: Engine) -> tuple[int, ...]:
    return tuple(count(engine, table) for table in (Incident, Alert, IncidentEvent, OutboxMessage))


def stored_alerts(client: TestClient, incident_id: object) -> list[dict[str, Any]]:
    detail = client.get(f"/api/v1/incidents/{incident_id}")
    assert detail.status_code == 200, detail.text
    alerts: list[dict[str, Any]] = detail.json()["alerts"]
    return alerts


def post_json(client: TestClient, body: object) -> Any:
    return client.post(URL, content=json.dumps(body), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "not JSON"),
        (b"\xff\xfe", 400, "not JSON"),
        (b"", 400, "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "JSON"),
        (b"[1, 2]", 422, "JSON object"),
        (b"[]", 422, "JSON object"),
        (b'"alerts"', 422, "JSON object"),
        (json.dumps({"version": "4", "status": "firing", "groupKey": "k"}).encode(), 422, "alerts"),
        (b'{"alerts": 3}', 422, "alerts"),
        (json.dumps({**payload("drift-firing"), "alerts": {"0": {}}}).encode(), 422, "alerts"),
    ],
    ids=[
        "malformed",
        "not-utf8",
        "empty-body",
        "nested-too-deeply",
        "array",
        "empty-array",
        "string",
        "missing-alerts",
        "alerts-a-number",
        "alerts-an-object",
    ],
)
def test_an_unusable_envelope_is_refused_with_a_reason_and_nothing_changes(
    client: TestClient, catalog: Engine, body: bytes, status: int, reason: str
) -> None:
    before = rows(catalog)
    response = client.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert reason in response.text
    assert rows(catalog) == before
    assert nothing_stored(catalog)


def test_an_alert_without_alertname_among_valid_ones_is_stored_with_them(
    client: TestClient, catalog: Engine
) -> None:
    body = payload("gpu-xid-firing")
    del body["alerts"][1]["labels"]["alertname"]
    response = post_json(client, body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["outcome"], result["new_alerts"], result["rejected"]) == ("created", 3, 0)
    alerts = stored_alerts(client, result["incident_id"])
    assert sorted(a["fingerprint"] for a in alerts) == sorted(
        a["fingerprint"] for a in body["alerts"]
    )
    unnamed = next(a for a in alerts if a["fingerprint"] == body["alerts"][1]["fingerprint"])
    assert unnamed["alertname"] == "" and unnamed["labels"]["node"] == "gpu-node-2"


def test_a_delivery_where_no_alert_has_a_name_gets_a_readable_title(
    client: TestClient, catalog: Engine
) -> None:
    body = payload("batch-failure-firing")
    del body["alerts"][0]["labels"]["alertname"]
    del body["groupLabels"]["alertname"]
    del body["commonLabels"]["alertname"]
    body["commonAnnotations"].pop("summary", None)
    result = post_json(client, body).json()
    [incident] = [
        i for i in client.get("/api/v1/incidents").json() if i["id"] == result["incident_id"]
    ]
    assert incident["title"] == "Alert without alertname (model=ltv)"


def test_a_huge_truncated_alerts_count_is_clamped_not_a_500(
    client: TestClient, catalog: Engine
) -> None:
    body = payload("truncated")
    body["truncatedAlerts"] = 2**70
    response = post_json(client, body)
    assert response.status_code == 200, response.text
    assert any("truncatedAlerts" in w for w in response.json()["warnings"])
    [incident] = client.get("/api/v1/incidents").json()
    assert client.get(f"/api/v1/incidents/{incident['id']}").json()["truncated_alerts"] == 2**31 - 1
    # A negative count is no count: 0.
    resolved = payload("truncated")
    resolved["truncatedAlerts"] = -5
    for alert in resolved["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = "2026-11-27T14:00:00Z"
    assert post_json(client, resolved).json()["outcome"] == "resolved"


def test_an_alert_that_is_a_string_is_counted_and_the_others_are_stored(
    client: TestClient, catalog: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    body = payload("gpu-xid-firing")
    body["alerts"].insert(1, "GPUXidError on gpu-node-9\nINFO forged log line")
    with caplog.at_level(logging.WARNING, logger="oncall.api.webhook"):
        response = post_json(client, body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["new_alerts"], result["rejected"]) == (3, 1)
    assert result["rejected_reasons"] == {"not_an_object": 1}
    assert len(stored_alerts(client, result["incident_id"])) == 3
    metrics = client.get("/metrics").text
    assert 'oncall_alerts_rejected_total{reason="not_an_object"} 1.0' in metrics
    assert 'oncall_alerts_rejected_total{reason="no_labels"} 0.0' in metrics
    [line] = [r.getMessage() for r in caplog.records if "alert 1 of group" in r.getMessage()]
    assert "not_an_object" in line and "gpu-node-9" in line and "\n" not in line
    # The alert we could not read may still fire: the incident does not resolve without it.
    [incident] = client.get("/api/v1/incidents").json()
    assert client.get(f"/api/v1/incidents/{incident['id']}").json()["truncated_alerts"] == 1


def test_an_alert_with_neither_labels_nor_fingerprint_is_rejected_and_nothing_stored(
    client: TestClient, catalog: Engine
) -> None:
    body = {**payload("drift-firing"), "alerts": [{"status": "firing"}, None, 7]}
    response = post_json(client, body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["outcome"], result["incident_id"], result["rejected"]) == ("ignored", None, 3)
    assert result["rejected_reasons"] == {"no_labels": 1, "not_an_object": 2}
    assert "no alert could be read" in result["warnings"]
    assert nothing_stored(catalog)
    assert 'oncall_alerts_rejected_total{reason="not_an_object"} 2.0' in client.get("/metrics").text


def test_an_empty_alerts_list_is_answered_200_and_stores_nothing(
    client: TestClient, catalog: Engine
) -> None:
    response = post_json(client, {**payload("drift-firing"), "alerts": []})
    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"
    assert "the delivery holds no alerts" in response.json()["warnings"]
    assert nothing_stored(catalog)


@pytest.mark.parametrize("version", ["5", "3", 4, None])
def test_another_webhook_version_is_read_as_version_4(
    client: TestClient, catalog: Engine, version: object
) -> None:
    response = post_json(client, {**payload("drift-firing"), "version": version})
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "created"
    assert count(catalog, Alert) == 1
    if version != 4:
        assert any("version" in w for w in response.json()["warnings"])


def test_an_unknown_top_level_status_is_taken_from_the_alerts(
    client: TestClient, catalog: Engine
) -> None:
    response = post_json(client, {**payload("drift-firing"), "status": "exploded"})
    assert response.status_code == 200
    assert response.json()["outcome"] == "created"


def test_an_alert_without_status_fingerprint_or_start_is_stored_and_redelivery_is_a_no_op(
    client: TestClient, catalog: Engine
) -> None:
    body = payload("gpu-xid-partly-resolved")
    sent = [dict(a) for a in body["alerts"]]
    for alert in body["alerts"]:
        del alert["fingerprint"]
    resolved = next(a for a in body["alerts"] if a["status"] == "resolved")
    del resolved["status"]
    resolved["endsAt"] = "2026-03-03T14:00:00Z"  # before the clock's now: resolved
    firing = next(a for a in body["alerts"] if a["status"] == "firing")
    firing["status"] = 1
    del firing["startsAt"]
    result = post_json(client, body).json()
    assert (result["outcome"], result["new_alerts"], result["resolved_alerts"]) == ("created", 2, 1)
    alerts = {a["fingerprint"]: a for a in stored_alerts(client, result["incident_id"])}
    # Computed as Alertmanager computes it: the very fingerprints it sent.
    assert sorted(alerts) == sorted(a["fingerprint"] for a in sent)
    assert alerts[label_fingerprint(resolved["labels"])]["status"] == "resolved"
    unknown_start = alerts[label_fingerprint(firing["labels"])]
    assert (unknown_start["status"], unknown_start["starts_at"][:19]) == (
        "firing",
        "1970-01-01T00:00:00",
    )
    assert post_json(client, body).json()["outcome"] == "unchanged"
    assert count(catalog, Alert) == 3


def test_alertmanagers_fingerprint_is_computed_from_the_labels_of_every_fixture() -> None:
    checked = 0
    for path in ALERTMANAGER.glob("*.json"):
        for alert in json.loads(path.read_text(encoding="utf-8")).get("alerts", []):
            assert label_fingerprint(alert["labels"]) == alert["fingerprint"], path.name
            checked += 1
    assert checked > 200


def test_odd_label_values_are_stored_as_text_or_dropped_with_a_warning(
    client: TestClient, catalog: Engine
) -> None:
    body = payload("drift-firing")
    labels = body["alerts"][0]["labels"]
    labels.update(gpu=0, ratio=0.5, canary=True, owner=None, tags=["a"], extra={"k": "v"})
    labels["note"] = "nul\x00 and lone \ud800 surrogate"
    body["alerts"][0]["annotations"]["summary"] = {"text": "not a string"}
    body["alerts"][0]["fingerprint"] = "f" * 200
    response = post_json(client, body)
    assert response.status_code == 200, response.text
    [alert] = stored_alerts(client, response.json()["incident_id"])
    assert {k: alert["labels"][k] for k in ("gpu", "ratio", "canary")} == {
        "gpu": "0",
        "ratio": "0.5",
        "canary": "true",
    }
    assert not {"owner", "tags", "extra"} & set(alert["labels"])
    assert alert["labels"]["note"] == "nul\ufffd and lone \ufffd surrogate"
    assert "summary" not in alert["annotations"]
    assert len(alert["fingerprint"]) == 64
    warnings = response.json()["warnings"]
    assert any("labels.tags" in w for w in warnings) and any("fingerprint" in w for w in warnings)


def test_a_missing_group_key_is_derived_and_stable(client: TestClient, catalog: Engine) -> None:
    body = payload("drift-firing")
    del body["groupKey"]
    first = post_json(client, body).json()
    assert first["outcome"] == "created"
    assert post_json(client, body).json()["outcome"] == "unchanged"
    [incident] = client.get("/api/v1/incidents").json()
    assert incident["id"] == first["incident_id"]


def test_a_model_label_longer_than_the_column_still_opens_an_incident(
    client: TestClient, catalog: Engine
) -> None:
    body = payload("drift-firing")
    for labels in (body["commonLabels"], body["groupLabels"], body["alerts"][0]["labels"]):
        labels["model"] = "m" * 5000
    response = post_json(client, body)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "created"


@pytest.mark.parametrize(
    "when",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "not a time", 2**70, "1e400"],
)
def test_instants_that_cannot_be_stored_are_replaced_not_a_500(
    client: TestClient, catalog: Engine, when: object
) -> None:
    body = payload("drift-firing")
    body["alerts"][0]["startsAt"] = when
    body["alerts"][0]["endsAt"] = when
    response = post_json(client, body)
    assert response.status_code == 200, response.text
    [alert] = stored_alerts(client, response.json()["incident_id"])
    assert alert["starts_at"].startswith("1970-01-01") and alert["ends_at"] is None


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


def test_raw_control_characters_and_bytes_that_are_not_utf8_lose_no_alert(
    client: TestClient, catalog: Engine
) -> None:
    body = json.dumps(payload("gpu-xid-firing")).encode()
    # A raw tab and NUL inside a string (JSON wants them escaped), and a byte that is not UTF-8.
    damaged = body.replace(b"gpu-node-1", b"gpu-node\t1\x00", 1).replace(
        b"train-a", b"train-\xff", 1
    )
    response = client.post(URL, content=damaged, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert len(stored_alerts(client, response.json()["incident_id"])) == 3
