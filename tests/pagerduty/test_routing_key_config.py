"""`pagerduty_routing_key` in oncall.yaml: `${ENV_NAME}` or a 32-character key. `config check`
names a team whose variable is unset, with the file and line, and never prints a key."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from oncall.cli import app

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "oncall.yaml"


def catalog_with_key(tmp_path: Path, value: str) -> tuple[Path, int]:
    """The example catalog with a key for its first team; returns the file and the line."""
    lines = EXAMPLE.read_text().splitlines()
    at = next(i for i, text in enumerate(lines) if text.startswith("    leads: [emily]")) + 1
    lines.insert(at, f'    pagerduty_routing_key: "{value}"')
    path = tmp_path / "oncall.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path, at + 1


def test_config_check_names_the_team_whose_variable_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PD_KEY_GROWTH", raising=False)
    path, line = catalog_with_key(tmp_path, "${PD_KEY_GROWTH}")
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}:{line}: teams[0].pagerduty_routing_key" in result.output
    assert "growth-ds" in result.output and "${PD_KEY_GROWTH}" in result.output

    monkeypatch.setenv("PD_KEY_GROWTH", "A" * 32)
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 0
    assert "pagerduty_routing_key" not in result.output
    assert "A" * 32 not in result.output


@pytest.mark.parametrize("value", ["not-a-key", "${lower case}", "$PD_KEY", "B" * 31])
def test_a_routing_key_that_is_neither_a_variable_nor_a_key_is_refused_without_echoing_it(
    tmp_path: Path, value: str
) -> None:
    path, line = catalog_with_key(tmp_path, value)
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:{line}: teams[0].pagerduty_routing_key" in result.output
    assert value not in result.output.replace(str(path), "")


def test_a_literal_key_of_32_characters_is_accepted(tmp_path: Path) -> None:
    path, _ = catalog_with_key(tmp_path, "0123456789abcdef0123456789ABCDEF")
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
