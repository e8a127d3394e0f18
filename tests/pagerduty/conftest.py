"""The HTTPS PagerDuty stub and settings that point oncall at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pagerduty_helpers import stub_settings
from pagerduty_stub import PagerDutyStub
from sqlalchemy.engine import Engine

from oncall.app import create_app
from oncall.clock import FrozenClock
from oncall.config import Settings


@pytest.fixture
def stub(tmp_path: Path) -> Iterator[PagerDutyStub]:
    with PagerDutyStub(tmp_path) as server:
        yield server


@pytest.fixture
def pd_settings(stub: PagerDutyStub) -> Settings:
    return stub_settings(stub)


@pytest.fixture
def pd_client(catalog: Engine, pd_settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(pd_settings, engine=catalog, clock=clock, background=False)
    with TestClient(app) as c:
        yield c
