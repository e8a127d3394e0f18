"""Slack delivery tests: the real app and outbox against a local Web API stub."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).parent))

from delivery_stub import SlackStub

from oncall.app import create_app
from oncall.clock import FrozenClock
from oncall.config import Settings

PUBLIC_URL = "https://oncall.example.com"


@pytest.fixture
def stub() -> Iterator[SlackStub]:
    server = SlackStub().start()
    yield server
    server.stop()


@pytest.fixture
def slack_settings(stub: SlackStub) -> Settings:
    return Settings(
        ONCALL_DATABASE_URL="sqlite://",
        SLACK_BOT_TOKEN="xoxb-test-delivery",
        ONCALL_SLACK_API_URL=stub.url,
        ONCALL_PUBLIC_URL=PUBLIC_URL,
    )


@pytest.fixture
def app_client(
    catalog: Engine, slack_settings: Settings, clock: FrozenClock
) -> Iterator[TestClient]:
    """The real app (no background work: tests deliver the outbox themselves)."""
    with TestClient(create_app(slack_settings, engine=catalog, clock=clock, background=False)) as c:
        yield c
