"""The `oncall` command's public surface and its failures: listed, clear, never leaking secrets."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from oncall.cli import app
from oncall.config import Settings

EXAMPLE_CATALOG = Path(__file__).parent / "fixtures" / "oncall.yaml"

# DESIGN.md, "Public surface": every top-level command.
PUBLIC_COMMANDS = (
    "serve",
    "demo",
    "db",
    "config",
    "who",
    "schedule",
    "override",
    "calendar",
    "incidents",
    "prs",
    "rca",
    "insights",
    "gpu",
    "swap",
    "evidence",
    "outbox",
)


def listed_commands(help_text: str) -> set[str]:
    """Command names in the `Commands` panel of a --help page (one per row, first word)."""
    panel = help_text.split("Commands", 1)[1]
    return set(re.findall(r"^\W*([a-z][a-z-]*)\s{2,}\S", panel, flags=re.MULTILINE))


def test_help_lists_every_public_command() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert set(PUBLIC_COMMANDS) <= listed_commands(result.stdout)


@pytest.mark.parametrize(
    ("group", "commands"),
    [
        ("db", {"upgrade"}),
        ("config", {"check", "apply"}),
        ("rca", {"generate", "list", "done", "action"}),
    ],
)
def test_command_groups_list_their_commands(group: str, commands: set[str]) -> None:
    result = CliRunner().invoke(app, [group, "--help"])
    assert result.exit_code == 0
    assert commands <= listed_commands(result.stdout)


@pytest.mark.parametrize(
    "command",
    [
        ["who"],
        ["schedule"],
        ["incidents", "list"],
        ["outbox", "list"],
        ["override", "list"],
        ["swap", "list"],
        ["rca", "list"],
    ],
)
def test_listing_commands_take_json(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "--json" in result.stdout


def test_version_is_printed() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(r"oncall \d+\.\d+\.\d+\S*\n", result.stdout)


def test_unmigrated_database_gives_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'oncall.db'}"
    result = CliRunner(env={"ONCALL_DATABASE_URL": url}).invoke(
        app, ["config", "apply", str(EXAMPLE_CATALOG)]
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stderr.startswith(f"error: the database ({url}) is at migration none")
    assert "run `oncall db upgrade` first" in result.stderr


def test_unreachable_database_gives_a_clear_error_without_the_password() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://oncall:s3cr3t-pw@127.0.0.1:{port}/oncall?connect_timeout=3"
    result = CliRunner(env={"ONCALL_DATABASE_URL": url}).invoke(
        app, ["config", "apply", str(EXAMPLE_CATALOG)]
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "cannot reach the database (postgresql://oncall:***@127.0.0.1" in result.stderr
    assert "s3cr3t-pw" not in result.output


@pytest.mark.parametrize(
    "variable",
    [
        "ONCALL_WEBHOOK_TOKEN",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "PAGERDUTY_ROUTING_KEY",
    ],
)
@pytest.mark.parametrize("value", ["changethis", "CHANGEME", " secret "])
def test_settings_reject_placeholder_secrets(variable: str, value: str) -> None:
    with pytest.raises(ValidationError, match="placeholder") as caught:
        Settings(**{variable: value})
    assert caught.value.errors()[0]["loc"] == (variable,)


def test_placeholder_secret_in_the_environment_is_a_clear_cli_error(tmp_path: Path) -> None:
    env = {
        "ONCALL_DATABASE_URL": f"sqlite:///{tmp_path / 'oncall.db'}",
        "SLACK_BOT_TOKEN": "changethis",
    }
    result = CliRunner(env=env).invoke(app, ["db", "upgrade"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "error: invalid environment" in result.stderr
    assert "SLACK_BOT_TOKEN" in result.stderr
    assert "placeholder" in result.stderr
    assert not (tmp_path / "oncall.db").exists()  # refused before touching anything


def test_an_empty_secret_means_not_set() -> None:
    settings = Settings(SLACK_BOT_TOKEN="", ONCALL_WEBHOOK_TOKEN="  ")
    assert settings.slack_bot_token is None
    assert settings.webhook_token is None
    assert not settings.slack_enabled


def test_secrets_never_appear_in_repr_or_str_of_settings() -> None:
    secrets = {
        "ONCALL_WEBHOOK_TOKEN": "whk-9f8e7d6c5b4a",
        "SLACK_BOT_TOKEN": "xoxb-1111-2222-abcdefabcdef",
        "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
        "SLACK_APP_TOKEN": "xapp-1-A111-2222-abcdef",
        "PAGERDUTY_ROUTING_KEY": "R0UT1NGKEY0000000000000000000001",
    }
    settings = Settings(
        ONCALL_DATABASE_URL="postgresql://oncall:db-pa55word@db.internal:5432/oncall",
        **secrets,
    )
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == secrets["SLACK_BOT_TOKEN"]
    for text in (repr(settings), str(settings)):
        for value in [*secrets.values(), "db-pa55word"]:
            assert value not in text
    assert "db.internal" in repr(settings)  # the rest of the URL stays visible for debugging


def test_postgresql_without_its_driver_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from typer.testing import CliRunner

    from oncall.cli import app

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "psycopg" else real(name, *a)
    )
    env = {"ONCALL_DATABASE_URL": "postgresql://oncall@db.internal/oncall"}
    result = CliRunner(env=env).invoke(app, ["db", "upgrade"])
    assert result.exit_code == 1
    assert "pip install 'ds-oncall[postgres]'" in result.output
    assert "Traceback" not in result.output
