"""Signed Slack requests into the real app: commands, buttons, modal submissions, events."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from httpx import Response
from slack_stub import SlackStub
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from oncall.clock import FrozenClock
from oncall.incidents.models import Incident
from oncall.outbox import OutboxMessage

SIGNING_SECRET = "test-signing-secret-0123456789"
TEAM = "T0TEST0001"
EMILY, RYAN, TAKA, ANA, BEN = "U0EMILY001", "U0RYAN0001", "U0TAKA0001", "U0ANA00001", "U0BEN00001"
STRANGER = "U0NOBODY01"


def sign(body: str, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Slack:
    """Sends what Slack would send, signed, into the real app."""

    client: TestClient
    stub: SlackStub
    clock: FrozenClock
    engine: Engine
    _triggers: int = 0

    def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str = SIGNING_SECRET,
        signed: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Response:
        ts = int(time.time()) if timestamp is None else timestamp
        all_headers = {"Content-Type": content_type, **(headers or {})}
        if signed:
            all_headers["X-Slack-Request-Timestamp"] = str(ts)
            all_headers["X-Slack-Signature"] = sign(body, ts, secret)
        return self.client.post("/slack/events", content=body, headers=all_headers)

    def trigger(self) -> str:
        self._triggers += 1
        return f"1337.{self._triggers:04d}.trigger"

    def command(
        self,
        text: str,
        *,
        user: str = EMILY,
        channel: str = "C0GROWTH01",
        trigger_id: str | None = None,
        **kw: Any,
    ) -> Response:
        form = {
            "token": "legacy",
            "team_id": TEAM,
            "channel_id": channel,
            "user_id": user,
            "command": "/oncall",
            "text": text,
            "response_url": "http://127.0.0.1:9/commands/1",
            "trigger_id": trigger_id or self.trigger(),
        }
        return self.post(urlencode(form), "application/x-www-form-urlencoded", **kw)

    def say(self, text: str, **kw: Any) -> str:
        """The ephemeral answer of `/oncall <text>`."""
        response = self.command(text, **kw)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["response_type"] == "ephemeral"
        return str(answer["text"])

    def interactive(self, payload: dict[str, Any], **kw: Any) -> Response:
        body = urlencode({"payload": json.dumps(payload)})
        return self.post(body, "application/x-www-form-urlencoded", **kw)

    def press(
        self,
        action_id: str,
        value: str,
        *,
        user: str = EMILY,
        channel: str | None = "C0GROWTH01",
        view: dict[str, Any] | None = None,
        container: dict[str, Any] | None = None,
        trigger_id: str | None = None,
        **kw: Any,
    ) -> Response:
        payload: dict[str, Any] = {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": user},
            "api_app_id": "A0APP00001",
            "trigger_id": trigger_id or self.trigger(),
            "container": container or {"type": "message", "channel_id": channel},
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "b",
                    "value": value,
                    "type": "button",
                    "action_ts": "1700000000.1",
                }
            ],
        }
        if channel:
            payload["channel"] = {"id": channel}
        if view:
            payload["view"] = view
        return self.interactive(payload, **kw)

    def submit(
        self,
        callback_id: str,
        values: dict[str, Any],
        *,
        user: str = EMILY,
        view_id: str = "V0VIEW0001",
        metadata: str = "C0GROWTH01",
    ) -> Response:
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM},
            "user": {"id": user},
            "api_app_id": "A0APP00001",
            "trigger_id": self.trigger(),
            "view": {
                "id": view_id,
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": metadata,
                "state": {"values": values},
            },
        }
        return self.interactive(payload)

    def event(self, event: dict[str, Any], event_id: str = "Ev0001", **kw: Any) -> Response:
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": TEAM,
                "api_app_id": "A0APP00001",
                "type": "event_callback",
                "event_id": event_id,
                "event_time": 1700000000,
                "event": event,
            }
        )
        return self.post(body, "application/json", **kw)


ALERTMANAGER = Path(__file__).resolve().parents[1] / "fixtures" / "alertmanager"


def open_incident(slack: Slack, fixture: str = "drift-firing") -> int:
    """An incident opened the real way: Alertmanager's webhook."""
    body = json.loads((ALERTMANAGER / f"{fixture}.json").read_text(encoding="utf-8"))
    response = slack.client.post("/api/v1/alerts/alertmanager", json=body)
    assert response.status_code == 200, response.text
    with Session(slack.engine) as s:
        return max(i.id for i in s.exec(select(Incident)) if i.id is not None)


def incident(slack: Slack, incident_id: int) -> Incident:
    with Session(slack.engine) as s:
        found = s.get(Incident, incident_id)
        assert found is not None
        return found


def outbox_rows(slack: Slack, kind: str) -> list[OutboxMessage]:
    with Session(slack.engine) as s:
        return list(
            s.exec(
                select(OutboxMessage)
                .where(OutboxMessage.kind == kind)
                .order_by(col(OutboxMessage.id))
            )
        )


def deliver_slack(slack: Slack) -> None:
    """Deliver the Slack outbox rows to the stub through the service's Slack handler, as the
    worker would (no pacing wait: the stub has no rate limit)."""
    from oncall.config import Settings
    from oncall.integrations.slack.delivery import slack_handler
    from oncall.integrations.slack.webapi import Pacer
    from oncall.outbox import Channel, deliver_channel

    settings = Settings(SLACK_BOT_TOKEN="xoxb-test-0001", ONCALL_SLACK_API_URL=slack.stub.url)
    deliver_channel(
        engine=slack.engine,
        channel=Channel.slack,
        handler=slack_handler(settings, engine=slack.engine, clock=slack.clock, pacer=Pacer(0)),
        now=slack.clock,
    )


def selected(value: str) -> dict[str, Any]:
    return {"value": {"type": "static_select", "selected_option": {"value": value}}}


def picked_time(when: datetime) -> dict[str, Any]:
    return {"value": {"type": "datetimepicker", "selected_date_time": int(when.timestamp())}}


def typed(text: str) -> dict[str, Any]:
    return {"value": {"type": "plain_text_input", "value": text}}
