"""A rotation's `slack_usergroup` in oncall.yaml: checked with its line, stored by apply."""

from __future__ import annotations

import textwrap
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from oncall.catalog.loader import load_catalog
from oncall.catalog.models import Rotation
from oncall.catalog.service import apply_catalog
from oncall.cli import app

CATALOG = """\
teams:
  - {id: ds, name: Data Science}
people:
  - {id: emily, name: Emily, timezone: America/New_York}
rotations:
  - id: primary
    team: ds
    slack_usergroup: S0GROWTHOC
    layers:
      - members: [emily]
        start: 2026-01-05T10:00
        shift: 1w
"""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "oncall.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_a_user_group_handle_instead_of_its_id_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, CATALOG.replace("S0GROWTHOC", "'@growth-oncall'"))
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code != 0
    assert f"{path}:8: rotations[0].slack_usergroup:" in result.stderr
    assert "use the user group's id" in result.stderr


def test_apply_stores_the_rotations_user_group(tmp_path: Path, engine: Engine) -> None:
    from datetime import UTC, datetime

    with Session(engine) as s:
        apply_catalog(session=s, spec=load_catalog(write(tmp_path, CATALOG)), now=datetime.now(UTC))
        s.commit()
        rotation = s.get(Rotation, "primary")
        assert rotation is not None and rotation.slack_usergroup == "S0GROWTHOC"
