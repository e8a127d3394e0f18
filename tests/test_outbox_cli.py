"""`oncall outbox list|retry` against a real migrated SQLite database."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from oncall import migrate
from oncall.cli import app
from oncall.clock import FrozenClock
from oncall.db import make_engine, session_scope
from oncall.outbox import Claimed, Handler, PermanentDeliveryError, deliver_due, enqueue

runner = CliRunner()
NOW = datetime.now(UTC)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("ONCALL_DATABASE_URL", url)
    engine = make_engine(url)
    migrate.upgrade(engine)
    with session_scope(engine) as s:
        enqueue(session=s, channel="slack", kind="post_incident", payload={}, now=NOW)
        enqueue(session=s, channel="pagerduty", kind="trigger", payload={}, now=NOW)

    def refuse(_message: Claimed) -> Mapping[str, Any]:
        raise PermanentDeliveryError("channel_not_found: invite the bot to the channel")

    deliver_due(engine=engine, handlers={"slack": Handler(send=refuse)}, now=FrozenClock(NOW))
    yield engine
    engine.dispose()


def test_list_shows_what_waits_and_failed_shows_what_gave_up(database: Engine) -> None:
    waiting = runner.invoke(app, ["outbox", "list"])
    assert waiting.exit_code == 0
    assert "pagerduty" in waiting.output and "trigger" in waiting.output
    assert "post_incident" not in waiting.output

    failed = runner.invoke(app, ["outbox", "list", "--failed", "--json"])
    assert failed.exit_code == 0
    [row] = json.loads(failed.output)
    assert (row["channel"], row["kind"], row["attempts"]) == ("slack", "post_incident", 1)
    assert row["last_error"] == "channel_not_found: invite the bot to the channel"


def test_retry_sends_a_failed_row_again(database: Engine) -> None:
    [row] = json.loads(runner.invoke(app, ["outbox", "list", "--failed", "--json"]).output)
    result = runner.invoke(app, ["outbox", "retry", str(row["id"])])
    assert result.exit_code == 0, result.output
    assert "will be sent again" in result.output
    assert json.loads(runner.invoke(app, ["outbox", "list", "--failed", "--json"]).output) == []
    sent: list[str] = []

    def send(message: Claimed) -> Mapping[str, Any]:
        sent.append(message.kind)
        return {}

    later = FrozenClock(datetime.now(UTC))  # retry made it due at the moment it ran
    deliver_due(engine=database, handlers={"slack": Handler(send=send)}, now=later)
    assert sent == ["post_incident"]


def test_retry_of_an_unknown_or_pending_row_is_a_clear_error(database: Engine) -> None:
    unknown = runner.invoke(app, ["outbox", "retry", "999"])
    assert unknown.exit_code == 1
    assert "unknown outbox message 999" in unknown.output
    [pending] = json.loads(runner.invoke(app, ["outbox", "list", "--json"]).output)
    again = runner.invoke(app, ["outbox", "retry", str(pending["id"])])
    assert again.exit_code == 1
    assert "has not failed" in again.output
