"""`oncall serve`'s own background work delivers to Slack: the webhook's commit wakes the
outbox worker, which posts; an ack through the API becomes a chat.update of that post."""

from __future__ import annotations

import time

from delivery_helpers import fire, incident, payload
from delivery_stub import SlackStub
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from oncall.app import create_app
from oncall.clock import system_clock
from oncall.config import Settings


def test_the_service_posts_then_updates_through_its_own_worker(
    catalog: Engine, slack_settings: Settings, stub: SlackStub
) -> None:
    app = create_app(slack_settings, engine=catalog, clock=system_clock, background=True)
    with TestClient(app) as client:
        incident_id = fire(client, payload("drift-firing"))
        [post] = stub.wait_for("chat.postMessage")
        assert post.body["channel"] == "C0GROWTH01"
        deadline = time.monotonic() + 10
        while incident(catalog, incident_id).slack_ts is None and time.monotonic() < deadline:
            time.sleep(0.05)
        ts = incident(catalog, incident_id).slack_ts
        assert ts is not None

        # Three changes in quick succession, just after the post: one update, the latest state.
        client.post(f"/api/v1/incidents/{incident_id}/ack", json={"by": "taka"})
        client.post(f"/api/v1/incidents/{incident_id}/escalate", json={"by": "taka"})
        client.post(f"/api/v1/incidents/{incident_id}/resolve", json={"by": "taka"})
        [update] = stub.wait_for("chat.update", timeout=15)
        time.sleep(1.0)  # nothing else follows
        assert len(stub.of("chat.update")) == 1
        assert update.body["ts"] == ts
        assert "*Resolved* by <@U0TAKA0001>" in str(update.body["blocks"])
