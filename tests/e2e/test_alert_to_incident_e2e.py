"""From a metric to an incident and back, through real Prometheus and Alertmanager.

A test exporter serves the metrics; Prometheus evaluates the shipped rules (with `for: 0s`);
Alertmanager, configured from the shipped alertmanager.yml, groups the alerts and posts them
with the bearer token to `oncall serve`, which opens, routes and resolves the incidents.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from e2e_stack import Stack, http, wait_for
from sqlmodel import Session, col, select

from oncall.db import make_engine
from oncall.outbox import OutboxMessage

pytestmark = pytest.mark.e2e

# Scrape (1 s) + evaluation (1 s) + group_wait or group_interval (1 s) take a few seconds;
# the rest is room for a loaded CI machine.
DEADLINE = 60.0

DRIFT_SERIES = {"model": "churn", "feature": "f1"}
XID_SERIES = {
    "gpu": "0",
    "UUID": "GPU-x",
    "Hostname": "gpu-node-3",
    "modelName": "NVIDIA A100",
    "cluster": "train-a",
}


def _of_alert(incidents: list[dict[str, Any]], alertname: str) -> list[dict[str, Any]]:
    return [i for i in incidents if i["labels"].get("alertname") == alertname]


def _kinds(detail: dict[str, Any]) -> list[str]:
    return [event["kind"] for event in detail["timeline"]]


def test_drift_alert_opens_one_incident_that_alertmanager_resolves(e2e_stack: Stack) -> None:
    exporter, service = e2e_stack.exporter, e2e_stack.service
    # The service refuses a webhook without the token, so an incident can only come from an
    # Alertmanager that sends it.
    with http() as client:
        assert client.post(service.webhook_url, json={}).status_code == 401

    exporter.set("model_drift_last_run_timestamp_seconds", {"model": "churn"}, time.time())
    exporter.set("model_drift_score", DRIFT_SERIES, 0.9)
    opened = wait_for(
        "a triggered ModelDriftHigh incident",
        lambda: _of_alert(e2e_stack.incidents(), "ModelDriftHigh"),
        lambda found: any(i["status"] == "triggered" for i in found),
        timeout=DEADLINE,
    )
    assert len(opened) == 1, opened
    incident = opened[0]
    assert incident["status"] == "triggered"
    assert incident["model_id"] == "churn"
    assert incident["team_id"] == "growth-ds"
    assert incident["rotation_id"] == "growth-primary"
    assert incident["escalation_policy_id"] == "ds-default"
    assert incident["assignee_id"] in {"emily", "ryan", "taka"}
    assert incident["severity"] == "warning"
    assert incident["routing_warning"] is None
    assert incident["title"] == "Input drift on model churn"  # the shipped rule's summary
    assert incident["labels"]["category"] == "ml_drift"

    detail = e2e_stack.incident(incident["id"])
    [alert] = detail["alerts"]
    assert alert["status"] == "firing"
    assert alert["labels"] == {
        "alertname": "ModelDriftHigh",
        "category": "ml_drift",
        "model": "churn",
        "severity": "warning",
    }
    assert "is 0.90 (threshold 0.5)" in alert["annotations"]["description"]
    assert alert["annotations"]["runbook_url"] == "runbooks/model-drift.md"
    assert alert["generator_url"].startswith(e2e_stack.prometheus)

    exporter.set("model_drift_score", DRIFT_SERIES, 0.1)
    resolved = wait_for(
        f"incident {incident['id']} resolved by Alertmanager",
        lambda: e2e_stack.incident(incident["id"]),
        lambda found: found["status"] == "resolved",
        timeout=DEADLINE,
    )
    assert resolved["resolved_by"] == "alertmanager"
    assert [a["status"] for a in resolved["alerts"]] == ["resolved"]
    assert _kinds(resolved).count("triggered") == 1
    assert _kinds(resolved).count("resolved") == 1
    assert "reopened" not in _kinds(resolved)
    # Every delivery of the group (firing, then resolved) went to this one incident.
    assert len(_of_alert(e2e_stack.incidents(), "ModelDriftHigh")) == 1


def test_gpu_xid_alert_pages_the_platform_rotation(e2e_stack: Stack) -> None:
    e2e_stack.exporter.set("DCGM_FI_DEV_XID_ERRORS", XID_SERIES, 79)
    opened = wait_for(
        "a triggered GPUXidError incident",
        lambda: _of_alert(e2e_stack.incidents(), "GPUXidError"),
        lambda found: any(i["status"] == "triggered" for i in found),
        timeout=DEADLINE,
    )
    assert len(opened) == 1, opened
    incident = opened[0]
    # No model label: routed by the catalog's `category: gpu_node` route.
    assert incident["model_id"] is None
    assert incident["rotation_id"] == "platform-primary"
    assert incident["team_id"] == "ml-platform"
    assert incident["escalation_policy_id"] == "page-now"
    assert incident["assignee_id"] in {"ana", "ben"}
    assert incident["severity"] == "critical"
    assert incident["title"] == "XID 79 on gpu-node-3 GPU 0"
    assert incident["paged_at"] is not None
    # The shipped Alertmanager sub-route groups GPU alerts by cluster.
    assert 'cluster="train-a"' in incident["group_key"]

    detail = e2e_stack.incident(incident["id"])
    [alert] = detail["alerts"]
    assert alert["labels"] == {
        "alertname": "GPUXidError",
        "category": "gpu_node",
        "cluster": "train-a",
        "gpu": "0",
        "modelName": "NVIDIA A100",
        "node": "gpu-node-3",
        "severity": "critical",
        "UUID": "GPU-x",
        "xid": "79",
    }
    triggered = detail["timeline"][0]
    assert triggered["kind"] == "triggered"
    assert triggered["data"] == {"routed_via": "route 0"}  # the catalog's first route

    engine = make_engine(e2e_stack.service.database_url)
    try:
        with Session(engine) as session:
            pages = session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.incident_id == incident["id"])
                .where(OutboxMessage.channel == "pagerduty")
                .order_by(col(OutboxMessage.id))
            ).all()
    finally:
        engine.dispose()
    assert [m.kind for m in pages] == ["trigger"]
    payload = pages[0].payload
    assert payload["event_action"] == "trigger"
    assert payload["dedup_key"] == f"oncall-{incident['id']}"
    assert payload["severity"] == "critical"
    assert payload["class"] == "gpu_node"
    assert payload["source"] == "train-a"
    assert payload["team_id"] == "ml-platform"
