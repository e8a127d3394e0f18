"""`oncall config check`: each problem in oncall.yaml named by file, line and field, at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import text
from typer.testing import CliRunner

from oncall import migrate
from oncall.catalog.loader import ConfigProblem, InvalidConfig, parse_catalog_text
from oncall.cli import app
from oncall.db import make_engine

EXAMPLE_CATALOG = Path(__file__).parents[1] / "fixtures" / "oncall.yaml"

# A valid catalog that the tests below break one way at a time; line numbers in comments.
VALID = """\
teams:
  - {id: ds, name: Data Science}
people:
  - {id: emily, name: Emily, timezone: America/New_York}
  - {id: ryan, name: Ryan}
rotations:
  - id: primary
    team: ds
    timezone: Europe/Berlin
    layers:
      - members: [emily, ryan]
        start: 2026-01-05T10:00
        shift: 1w
escalation_policies:
  - id: default
    steps:
      - {after: 0m, notify: [oncall]}
      - {after: 15m, notify: [pagerduty]}
models:
  - {id: churn, name: Churn, team: ds, rotation: primary, escalation_policy: default}
routes:
  - match: {category: gpu_node}
    rotation: primary
    escalation_policy: default
"""


def write(tmp_path: Path, body: str, name: str = "team-catalog.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def check(path: Path) -> Result:
    return CliRunner().invoke(app, ["config", "check", str(path)])


def problem_lines(result: Result) -> list[str]:
    """The per-problem lines of a failed run (the closing `error:` summary left out)."""
    return [line for line in result.stderr.splitlines() if not line.startswith("error:")]


def assert_single_problem(result: Result, path: Path, line: int, field: str, words: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    problems = problem_lines(result)
    assert len(problems) == 1, problems
    prefix = f"{path}:{line}: {field}: " if field else f"{path}:{line}: "
    assert problems[0].startswith(prefix), problems[0]
    assert words in problems[0]
    assert f"error: {path}: 1 problem; nothing was applied" in result.stderr


def problems_of(body: str, source: str = "oncall.yaml") -> list[ConfigProblem]:
    with pytest.raises(InvalidConfig) as caught:
        parse_catalog_text(textwrap.dedent(body), source=source)
    return caught.value.problems


def test_the_base_catalog_of_these_tests_is_valid(tmp_path: Path) -> None:
    result = check(write(tmp_path, VALID))
    assert result.exit_code == 0, result.output
    assert "ok (1 teams, 2 people, 1 rotations, 1 escalation policies, 1 models, 1 routes)" in (
        result.stdout
    )


def test_example_catalog_is_valid() -> None:
    result = check(EXAMPLE_CATALOG)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"{EXAMPLE_CATALOG}: ok (2 teams, 5 people, 2 rotations, 2 escalation policies, "
        "2 models, 2 routes)"
    )
    spec = parse_catalog_text(EXAMPLE_CATALOG.read_text(), source=str(EXAMPLE_CATALOG))
    assert [m.id for m in spec.models] == ["churn", "ltv"]
    assert spec.rotations[0].layers[1].restrict == ["Mon-Fri 20:00-04:00"]


def test_unknown_person_in_a_rotation_is_reported_with_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("[emily, ryan]", "[emily, ghost]"))
    assert_single_problem(
        check(path), path, 11, "rotations[0].layers[0].members[1]", "unknown person 'ghost'"
    )


def test_unknown_person_as_team_lead_or_escalation_target_is_reported(tmp_path: Path) -> None:
    body = VALID.replace(
        "{id: ds, name: Data Science}", "{id: ds, name: Data Science, leads: [emily, nobody]}"
    ).replace("notify: [pagerduty]", "notify: [pagerduty, 'person:ghost']")
    result = check(write(tmp_path, body))
    assert result.exit_code == 1
    assert problem_lines(result) == [
        f"{tmp_path / 'team-catalog.yaml'}:2: teams[0].leads[1]: unknown person 'nobody'",
        f"{tmp_path / 'team-catalog.yaml'}:18: escalation_policies[0].steps[1].notify[1]: "
        "unknown person 'ghost'",
    ]


def test_unknown_time_zone_of_a_person_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("America/New_York", "America/New_Yrok"))
    assert_single_problem(
        check(path), path, 4, "people[0].timezone", "unknown time zone 'America/New_Yrok'"
    )


def test_unknown_time_zone_of_a_rotation_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("timezone: Europe/Berlin", "timezone: CEST"))
    assert_single_problem(check(path), path, 9, "rotations[0].timezone", "unknown time zone 'CEST'")


def test_unknown_default_time_zone_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "timezone: Mars/Olympus_Mons\n" + VALID)
    assert_single_problem(check(path), path, 1, "timezone", "unknown time zone 'Mars/Olympus_Mons'")


def test_duplicate_person_id_is_reported_on_the_second_occurrence(tmp_path: Path) -> None:
    second = "  - {id: ryan, name: Ryan}\n  - {id: emily, name: Emily B}"
    path = write(tmp_path, VALID.replace("  - {id: ryan, name: Ryan}", second))
    assert_single_problem(
        check(path), path, 6, "people[2].id", "duplicate id 'emily' (also people[0])"
    )


def test_duplicate_model_id_is_reported(tmp_path: Path) -> None:
    model = (
        "  - {id: churn, name: Churn, team: ds, rotation: primary, escalation_policy: default}\n"
    )
    path = write(tmp_path, VALID.replace(model, model + model.replace("Churn", "Churn v2")))
    assert_single_problem(check(path), path, 21, "models[1].id", "duplicate id 'churn'")


def test_duplicate_key_in_one_entry_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("    team: ds\n", "    team: ds\n    team: ds\n"))
    assert_single_problem(check(path), path, 9, "rotations[0].team", "duplicate key 'team'")


def test_bad_escalation_delay_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("after: 15m", "after: 1x"))
    assert_single_problem(
        check(path), path, 18, "escalation_policies[0].steps[1].after", "bad duration '1x'"
    )


def test_bad_shift_length_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("shift: 1w", "shift: 1x"))
    assert_single_problem(
        check(path), path, 13, "rotations[0].layers[0].shift", "bad shift length '1x'"
    )


def test_model_of_a_team_that_does_not_exist_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("team: ds, rotation", "team: fraud-ds, rotation"))
    assert_single_problem(check(path), path, 20, "models[0].team", "unknown team 'fraud-ds'")


def test_model_on_an_unknown_rotation_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path, VALID.replace("rotation: primary, escalation", "rotation: nope, escalation")
    )
    assert_single_problem(check(path), path, 20, "models[0].rotation", "unknown rotation 'nope'")


def test_route_to_an_unknown_rotation_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("    rotation: primary\n", "    rotation: secondary\n"))
    assert_single_problem(
        check(path), path, 23, "routes[0].rotation", "unknown rotation 'secondary'"
    )


def test_unknown_field_is_reported_rather_than_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("    shift: 1w\n", "    shift: 1w\n        shfit: 1d\n"))
    assert_single_problem(
        check(path), path, 14, "rotations[0].layers[0].shfit", "unknown field 'shfit'"
    )


def test_missing_field_points_at_its_entry(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("  - {id: ryan, name: Ryan}", "  - {id: ryan}"))
    assert_single_problem(check(path), path, 5, "people[1].name", "Field required")


def test_bad_indentation_is_malformed_yaml_on_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("    team: ds\n", "   team: ds\n"))
    assert_single_problem(check(path), path, 8, "", "malformed YAML")
    assert "indentation" in check(path).stderr


def test_unclosed_bracket_is_malformed_yaml(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        teams:
          - {id: ds, name: Data Science
        people: []
        """,
    )
    result = check(path)
    assert_single_problem(result, path, 3, "", "malformed YAML")


def test_impossible_date_is_malformed_yaml_not_a_crash(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        VALID.replace(
            "{id: churn, name: Churn,", "{readiness: {approved_on: 2026-02-30}, id: churn,"
        ),
    )
    result = check(path)
    assert_single_problem(result, path, 20, "", "bad date '2026-02-30'")


def test_control_character_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("name: Ryan", "name: Ry\x07an"))
    assert_single_problem(check(path), path, 5, "", "unacceptable character #x0007")


def test_empty_file_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing yet\n")
    assert_single_problem(check(path), path, 1, "", "the file is empty")


def test_missing_file_is_reported_without_a_traceback(tmp_path: Path) -> None:
    result = check(tmp_path / "absent.yaml")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert f"{tmp_path / 'absent.yaml'}: no such file" in result.stderr


ALL_WRONG = """\
timezone: Mars/Olympus_Mons
teams:
  - {id: ds, name: Data Science}
  - {id: ds, name: Data Science again}
people:
  - {id: emily, name: Emily, timezone: Europe/Berlinn}
rotations:
  - id: primary
    team: ds
    layers:
      - members: [emily, ghost]
        start: 2026-01-05T10:00
        shift: 1w
escalation_policies:
  - id: default
    steps:
      - {after: 1x, notify: [oncall]}
models:
  - {id: churn, name: Churn, team: fraud-ds}
routes:
  - {match: {}, rotation: secondary, escalation_policy: default}
"""


def test_every_problem_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    path = write(tmp_path, ALL_WRONG)
    result = check(path)
    assert result.exit_code == 1
    assert problem_lines(result) == [
        f"{path}:1: timezone: unknown time zone 'Mars/Olympus_Mons': use an IANA name such as "
        "Europe/Berlin",
        f"{path}:4: teams[1].id: duplicate id 'ds' (also teams[0])",
        f"{path}:6: people[0].timezone: unknown time zone 'Europe/Berlinn': use an IANA name such "
        "as Europe/Berlin",
        f"{path}:11: rotations[0].layers[0].members[1]: unknown person 'ghost'",
        f"{path}:17: escalation_policies[0].steps[0].after: bad duration '1x': use a number "
        "followed by s, m, h, d or w (0m, 15m, 1h)",
        f"{path}:19: models[0].team: unknown team 'fraud-ds'",
        f"{path}:21: routes[0].rotation: unknown rotation 'secondary'",
    ]
    assert result.stderr.splitlines()[-1] == f"error: {path}: 7 problems; nothing was applied"


def test_parse_catalog_text_raises_all_problems_with_their_source() -> None:
    problems = problems_of(ALL_WRONG, source="git:deploy/oncall.yaml")
    assert {p.file for p in problems} == {"git:deploy/oncall.yaml"}
    assert [(p.line, p.field) for p in problems] == [
        (1, "timezone"),
        (4, "teams[1].id"),
        (6, "people[0].timezone"),
        (11, "rotations[0].layers[0].members[1]"),
        (17, "escalation_policies[0].steps[0].after"),
        (19, "models[0].team"),
        (21, "routes[0].rotation"),
    ]


CATALOG_TABLES = ("teams", "people", "rotations", "escalation_policies", "models", "routes")


def _snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: sorted(
                    (
                        tuple(str(v) for v in row)
                        for row in conn.execute(text(f"SELECT * FROM {table}"))
                    ),
                )
                for table in (*CATALOG_TABLES, "catalog_revisions")
            }
    finally:
        engine.dispose()


def test_apply_of_a_bad_file_writes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'oncall.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    runner = CliRunner(env={"ONCALL_DATABASE_URL": url})
    first = runner.invoke(app, ["config", "apply", str(write(tmp_path, VALID, "good.yaml"))])
    assert first.exit_code == 0, first.output
    before = _snapshot(url)
    assert len(before["catalog_revisions"]) == 1

    # Valid parts (a renamed team, a new person) must not be applied beside the broken ones.
    broken = ALL_WRONG.replace("Data Science}", "Renamed}").replace(
        "people:\n", "people:\n  - {id: zoe, name: Zoe}\n"
    )
    result = runner.invoke(app, ["config", "apply", str(write(tmp_path, broken, "bad.yaml"))])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"error: {tmp_path / 'bad.yaml'}: 7 problems; nothing was applied" in result.stderr
    assert _snapshot(url) == before


def test_check_does_not_need_a_database(tmp_path: Path) -> None:
    # CI validates the catalog before any database exists; check must not create one.
    db = tmp_path / "never.db"
    result = CliRunner(env={"ONCALL_DATABASE_URL": f"sqlite:///{db}"}).invoke(
        app, ["config", "check", str(write(tmp_path, VALID))]
    )
    assert result.exit_code == 0, result.output
    assert not db.exists()
