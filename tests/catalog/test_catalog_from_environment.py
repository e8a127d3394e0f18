"""ONCALL_CONFIG names the catalog: `config check|apply` without a file, and `serve` at start."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from sqlmodel import Session, select
from typer.testing import CliRunner

from oncall import migrate
from oncall.catalog.models import Team
from oncall.cli import _apply_configured_catalog, app
from oncall.config import Settings
from oncall.db import make_engine

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "oncall.yaml"


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def teams(url: str) -> list[str]:
    engine = make_engine(url)
    with Session(engine) as s:
        ids = [t.id for t in s.exec(select(Team))]
    engine.dispose()
    return sorted(ids)


def test_config_commands_default_to_oncall_config(url: str) -> None:
    env = {"ONCALL_DATABASE_URL": url, "ONCALL_CONFIG": str(EXAMPLE)}
    checked = CliRunner(env=env).invoke(app, ["config", "check"])
    assert checked.exit_code == 0, checked.output
    assert str(EXAMPLE) in checked.output
    applied = CliRunner(env=env).invoke(app, ["config", "apply"])
    assert applied.exit_code == 0, applied.output
    assert teams(url) == ["growth-ds", "ml-platform"]


def test_config_commands_without_a_file_say_what_is_missing(url: str) -> None:
    result = CliRunner(env={"ONCALL_DATABASE_URL": url}).invoke(app, ["config", "apply"])
    assert result.exit_code == 1
    assert "ONCALL_CONFIG" in result.output


def test_serve_applies_oncall_config_at_start(url: str) -> None:
    settings = Settings(ONCALL_DATABASE_URL=url, ONCALL_CONFIG=str(EXAMPLE))
    _apply_configured_catalog(settings)
    _apply_configured_catalog(settings)  # a restart applies it again: no change, no error
    assert teams(url) == ["growth-ds", "ml-platform"]


def test_serve_refuses_to_start_on_a_bad_catalog(url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("teams:\n  - id: t\n    name: T\n    leads: [nobody]\n")
    with pytest.raises(typer.Exit) as exited:
        _apply_configured_catalog(Settings(ONCALL_DATABASE_URL=url, ONCALL_CONFIG=str(bad)))
    assert exited.value.exit_code == 1
    assert teams(url) == []
