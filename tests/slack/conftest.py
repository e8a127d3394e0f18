"""The real app with a Slack bot pointed at a local recording stub; requests signed for real."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from slack_helpers import SIGNING_SECRET, Slack
from slack_stub import SlackStub, start_stub
from sqlalchemy.engine import Engine

from oncall.app import create_app
from oncall.clock import FrozenClock
from oncall.config import Settings


@pytest.fixture
def stub() -> Iterator[SlackStub]:
    s = start_stub()
    yield s
    s.server.shutdown()
    s.server.server_close()


@pytest.fixture
def slack(catalog: Engine, clock: FrozenClock, stub: SlackStub) -> Iterator[Slack]:
    settings = Settings(
        ONCALL_DATABASE_URL="sqlite://",
        SLACK_BOT_TOKEN="xoxb-test-0001",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        ONCALL_SLACK_API_URL=stub.url,
        ONCALL_PUBLIC_URL="https://oncall.example.com",
    )
    app = create_app(settings, engine=catalog, clock=clock, background=False)
    with TestClient(app) as client:
        yield Slack(client=client, stub=stub, clock=clock, engine=catalog)
