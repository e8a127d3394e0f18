"""Socket Mode: with SLACK_APP_TOKEN set, the service opens the WebSocket itself (from
`apps.connections.open`) and the same listeners answer a slash command sent over it."""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

from fastapi.testclient import TestClient
from slack_helpers import SIGNING_SECRET, TAKA
from slack_stub import SlackStub
from sqlalchemy.engine import Engine
from websockets.sync.server import ServerConnection, serve

from oncall.app import create_app
from oncall.clock import FrozenClock
from oncall.config import Settings


def test_a_command_over_socket_mode_is_answered_by_the_same_listeners(
    catalog: Engine, clock: FrozenClock, stub: SlackStub
) -> None:
    answers: queue.Queue[dict[str, Any]] = queue.Queue()

    def slack_side(connection: ServerConnection) -> None:
        connection.send(json.dumps({"type": "hello", "num_connections": 1}))
        connection.send(
            json.dumps(
                {
                    "envelope_id": "env-1",
                    "type": "slash_commands",
                    "accepts_response_payload": True,
                    "payload": {
                        "team_id": "T0TEST0001",
                        "channel_id": "C0GROWTH01",
                        "user_id": TAKA,
                        "command": "/oncall",
                        "text": "who growth-primary",
                        "trigger_id": "1.2.3",
                        "response_url": "http://127.0.0.1:9/",
                    },
                }
            )
        )
        for message in connection:
            answers.put(json.loads(message))

    with serve(slack_side, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.socket.getsockname()[1]
        stub.answers["apps.connections.open"] = (
            200,
            {"ok": True, "url": f"ws://127.0.0.1:{port}/link"},
            {},
        )
        settings = Settings(
            ONCALL_DATABASE_URL="sqlite://",
            SLACK_BOT_TOKEN="xoxb-test-0001",
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_APP_TOKEN="xapp-test-0001",
            ONCALL_SLACK_API_URL=stub.url,
        )
        app = create_app(settings, engine=catalog, clock=clock, background=True)
        with TestClient(app):
            answer = answers.get(timeout=10)
        server.shutdown()
    assert answer["envelope_id"] == "env-1"
    assert answer["payload"]["text"].startswith("*growth-primary*: <@U0TAKA0001> until")
    assert answer["payload"]["response_type"] == "ephemeral"
    opened = stub.calls("apps.connections.open")
    assert len(opened) == 1
