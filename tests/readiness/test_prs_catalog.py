"""Declared readiness evidence in oncall.yaml: validated by `config check` with file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oncall.catalog.loader import InvalidConfig, load_catalog, parse_catalog_text
from oncall.cli import app

ROOT = Path(__file__).resolve().parents[2]

CATALOG = """\
teams:
  - {{id: ds, name: Data Science}}
models:
  - id: churn
    name: Churn
    team: ds
    readiness:
      documentation:
        readme: {readme}
      tests: {{unit: {unit}, integration: manual}}
      governance: {{approved_on: {approved}}}
      rollback: {rollback}
"""


def body(**overrides: str) -> str:
    values = {
        "readme": "https://git.example.com/churn#readme",
        "unit": "automated",
        "approved": "2026-02-01",
        "rollback": "manual",
    }
    values.update(overrides)
    return CATALOG.format(**values)


def test_every_declared_fact_of_the_example_catalogs_is_accepted() -> None:
    for path in (
        ROOT / "oncall" / "examples" / "oncall.yaml",
        ROOT / "tests" / "fixtures" / "oncall.yaml",
    ):
        churn = next(m for m in load_catalog(path).models if m.id == "churn")
        assert churn.readiness.tests.unit == "automated"
        assert str(churn.readiness.governance.approved_on) == "2026-02-01"
    parse_catalog_text(body(), source="oncall.yaml")


@pytest.mark.parametrize(
    ("override", "line", "field", "words"),
    [
        (
            {"unit": "sometimes"},
            10,
            "models[0].readiness.tests.unit",
            "'automated', 'manual' or 'none'",
        ),
        (
            {"readme": "'javascript:alert(1)'"},
            9,
            "models[0].readiness.documentation.readme",
            "only http(s) URLs",
        ),
        ({"approved": "last spring"}, 11, "models[0].readiness.governance.approved_on", "date"),
        (
            {"rollback": "maybe"},
            12,
            "models[0].readiness.rollback",
            "'automated', 'manual' or 'none'",
        ),
    ],
)
def test_a_bad_declared_fact_is_named_with_its_line(
    override: dict[str, str], line: int, field: str, words: str
) -> None:
    with pytest.raises(InvalidConfig) as caught:
        parse_catalog_text(body(**override), source="oncall.yaml")
    messages = [str(p) for p in caught.value.problems]
    assert any(m.startswith(f"oncall.yaml:{line}: {field}") and words in m for m in messages), (
        messages
    )


def test_an_unknown_readiness_fact_is_refused_by_config_check(tmp_path: Path) -> None:
    path = tmp_path / "oncall.yaml"
    path.write_text(body() + "      testing: automated\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:13: models[0].readiness.testing: unknown field 'testing'" in result.stderr


def test_a_practice_may_carry_the_date_it_last_ran() -> None:
    spec = parse_catalog_text(
        textwrap.dedent(body(unit="{status: automated, last_run: 2026-02-20}")), source="x"
    )
    unit = spec.models[0].readiness.tests.unit
    assert not isinstance(unit, str) and unit is not None
    assert (unit.status, str(unit.last_run)) == ("automated", "2026-02-20")
