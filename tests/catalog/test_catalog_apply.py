"""`oncall config apply`: idempotent, one transaction, reports its changes, retires with history."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from oncall import migrate
from oncall.catalog.loader import parse_catalog_text
from oncall.catalog.models import CatalogRevision, Model, Person, Rotation, Route, Team
from oncall.catalog.service import ApplyReport, apply_catalog, list_models, list_people
from oncall.cli import app
from oncall.db import session_scope
from oncall.incidents.models import Incident, group_hash
from oncall.rotations.models import Override

EXAMPLE_CATALOG = Path(__file__).parents[1] / "fixtures" / "oncall.yaml"

T1 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
T2 = T1 + timedelta(days=1)
T3 = T1 + timedelta(days=2)

BASE = """\
timezone: Europe/Berlin
teams:
  - {id: ds, name: Data Science, slack_channel: C0DS}
people:
  - {id: ana, name: Ana Lima}
  - {id: ben, name: Ben Okafor, timezone: Asia/Tokyo}
rotations:
  - id: primary
    team: ds
    layers:
      - {members: [ana, ben], start: 2026-01-05T09:00, shift: 1d}
escalation_policies:
  - id: default
    steps:
      - {after: 0m, notify: [oncall]}
models:
  - {id: churn, name: Churn, team: ds, rotation: primary, escalation_policy: default}
  - {id: ltv, name: LTV, team: ds, readiness: {governance: {approved_on: 2026-02-01}}}
routes:
  - {match: {category: gpu_node}, rotation: primary, escalation_policy: default}
"""
CHURN = "  - {id: churn, name: Churn, team: ds, rotation: primary, escalation_policy: default}\n"
LTV = "  - {id: ltv, name: LTV, team: ds, readiness: {governance: {approved_on: 2026-02-01}}}\n"
BEN = "  - {id: ben, name: Ben Okafor, timezone: Asia/Tokyo}\n"

# Ben left the team and the LTV model was switched off.
WITHOUT_BEN_AND_LTV = BASE.replace(BEN, "").replace("[ana, ben]", "[ana]").replace(LTV, "")


@dataclass
class Database:
    """A migrated database, as `oncall db upgrade` leaves it, and the CLI pointed at it."""

    engine: Engine
    url: str

    def oncall(self, *args: str) -> Result:
        return CliRunner(env={"ONCALL_DATABASE_URL": self.url}).invoke(app, list(args))

    def snapshot(self) -> dict[str, list[tuple[str, ...]]]:
        tables = ("teams", "people", "rotations", "escalation_policies", "models", "routes")
        with self.engine.connect() as conn:
            return {
                table: sorted(
                    tuple(str(v) for v in row)
                    for row in conn.execute(text(f"SELECT * FROM {table}"))
                )
                for table in (*tables, "catalog_revisions")
            }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Database:
    # conftest's pg_engine: a fresh schema (skips without ONCALL_TEST_POSTGRES_URL).
    engine: Engine = request.getfixturevalue(
        "pg_engine" if request.param == "postgres" else "empty_engine"
    )
    migrate.upgrade(engine)
    return Database(engine, engine.url.render_as_string(hide_password=False))


def write(tmp_path: Path, body: str, name: str = "oncall.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def apply(engine: Engine, body: str, now: datetime) -> ApplyReport:
    spec = parse_catalog_text(body, source="oncall.yaml")
    with session_scope(engine) as session:
        return apply_catalog(session=session, spec=spec, now=now, source="oncall.yaml")


def revisions(engine: Engine) -> list[CatalogRevision]:
    with Session(engine) as session:
        return list(session.exec(select(CatalogRevision).order_by(col(CatalogRevision.id))))


def test_first_apply_creates_every_entry_and_lists_it(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    result = db.oncall("config", "apply", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "created team ds",
        "created person ana",
        "created person ben",
        "created rotation primary",
        "created escalation policy default",
        "created model churn",
        "created model ltv",
        "changed routes (0 -> 1)",
        f"{path}: 8 changes applied",
    ]
    with Session(db.engine) as session:
        team = session.get(Team, "ds")
        assert team is not None
        assert (team.name, team.slack_channel, team.leads) == ("Data Science", "C0DS", [])
        assert session.get(Person, "ana").timezone == "Europe/Berlin"  # type: ignore[union-attr]
        assert session.get(Person, "ben").timezone == "Asia/Tokyo"  # type: ignore[union-attr]
        rotation = session.get(Rotation, "primary")
        assert rotation is not None
        assert rotation.layers == [
            {
                "name": "1",
                "members": ["ana", "ben"],
                "start": "2026-01-05T09:00",
                "shift": "1d",
                "restrict": [],
            }
        ]
        ltv = session.get(Model, "ltv")
        assert ltv is not None
        assert ltv.readiness == {"governance": {"approved_on": "2026-02-01"}}
        routes = session.exec(select(Route)).all()
        assert [(r.position, r.match, r.rotation_id) for r in routes] == [
            (0, {"category": "gpu_node"}, "primary")
        ]


@pytest.mark.parametrize("catalog", ["small", "example"])
def test_applying_the_same_file_twice_reports_no_change(
    db: Database, tmp_path: Path, catalog: str
) -> None:
    path = write(tmp_path, BASE) if catalog == "small" else EXAMPLE_CATALOG
    first = db.oncall("config", "apply", str(path))
    assert first.exit_code == 0, first.output
    assert "created team" in first.stdout
    after_first = db.snapshot()

    second = db.oncall("config", "apply", str(path))
    assert second.exit_code == 0, second.output
    assert second.stdout == f"{path}: no change\n"
    assert db.snapshot() == after_first

    as_json = json.loads(db.oncall("config", "apply", "--json", str(path)).stdout)
    assert as_json == {
        "file": str(path),
        "created": [],
        "changed": [],
        "restored": [],
        "retired": [],
        "swaps_no_longer_applying": [],
    }


def test_edits_are_reported_field_by_field(db: Database, tmp_path: Path) -> None:
    assert db.oncall("config", "apply", str(write(tmp_path, BASE))).exit_code == 0
    edited = (
        BASE.replace("timezone: Europe/Berlin", "timezone: Europe/Lisbon")  # the default
        .replace("Data Science, slack_channel: C0DS", "DS & Analytics, slack_channel: C0NEW")
        .replace("shift: 1d", "shift: 12h")
        .replace("{category: gpu_node}", "{category: gpu}")
    )
    path = write(tmp_path, edited, "edited.yaml")
    result = db.oncall("config", "apply", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "changed team ds (name, slack_channel)",
        "changed person ana (timezone)",  # follows the default; ben has his own
        "changed rotation primary (timezone, layers)",
        "changed routes (1 -> 1)",
        f"{path}: 4 changes applied",
    ]
    with Session(db.engine) as session:
        team = session.get(Team, "ds")
        assert team is not None
        assert (team.name, team.slack_channel) == ("DS & Analytics", "C0NEW")
        assert session.get(Person, "ben").timezone == "Asia/Tokyo"  # type: ignore[union-attr]
        rotation = session.get(Rotation, "primary")
        assert rotation is not None
        assert (rotation.timezone, rotation.layers[0]["shift"]) == ("Europe/Lisbon", "12h")
        assert session.exec(select(Route)).one().match == {"category": "gpu"}


def test_cli_reports_retired_and_restored_entries(db: Database, tmp_path: Path) -> None:
    assert db.oncall("config", "apply", str(write(tmp_path, BASE))).exit_code == 0

    path = write(tmp_path, WITHOUT_BEN_AND_LTV, "smaller.yaml")
    retired = db.oncall("config", "apply", str(path))
    assert retired.exit_code == 0, retired.output
    assert retired.stdout.splitlines() == [
        "changed rotation primary (layers)",
        "retired person ben",
        "retired model ltv",
        f"{path}: 3 changes applied",
    ]
    with Session(db.engine) as session:
        assert session.get(Person, "ben").retired_at is not None  # type: ignore[union-attr]

    path = write(tmp_path, BASE, "again.yaml")
    restored = db.oncall("config", "apply", str(path))
    assert restored.exit_code == 0, restored.output
    assert restored.stdout.splitlines() == [
        "changed rotation primary (layers)",
        "restored person ben",
        "restored model ltv",
        f"{path}: 3 changes applied",
    ]
    with Session(db.engine) as session:
        assert session.get(Person, "ben").retired_at is None  # type: ignore[union-attr]
        assert session.get(Model, "ltv").retired_at is None  # type: ignore[union-attr]


def test_retired_person_and_model_keep_their_history(engine: Engine) -> None:
    apply(engine, BASE, T1)
    with session_scope(engine) as session:
        session.add(
            Override(
                rotation_id="primary",
                person_id="ben",
                starts_at=T1,
                ends_at=T1 + timedelta(hours=8),
                created_at=T1,
                created_by="ana",
            )
        )
        session.add(
            Incident(
                group_key='{}:{alertname="ModelDrift", model="ltv"}',
                group_hash=group_hash('{}:{alertname="ModelDrift", model="ltv"}'),
                title="LTV drift",
                status="resolved",
                team_id="ds",
                model_id="ltv",
                rotation_id="primary",
                escalation_policy_id="default",
                assignee_id="ben",
                triggered_at=T1,
                escalation_started_at=T1,
                resolved_at=T1 + timedelta(hours=1),
                resolved_by="ben",
                updated_at=T1 + timedelta(hours=1),
            )
        )

    report = apply(engine, WITHOUT_BEN_AND_LTV, T2)
    assert report.retired == ["person ben", "model ltv"]

    with Session(engine) as session:
        ben = session.get(Person, "ben")
        ltv = session.get(Model, "ltv")
        assert ben is not None
        assert ltv is not None
        assert (ben.name, ben.retired_at) == ("Ben Okafor", T2)
        assert (ltv.name, ltv.retired_at) == ("LTV", T2)
        # The history that names them still reads back with their names.
        override, person = session.exec(
            select(Override, Person).join(Person, col(Override.person_id) == col(Person.id))
        ).one()
        assert (override.ends_at, person.name) == (T1 + timedelta(hours=8), "Ben Okafor")
        incident, model, assignee = session.exec(
            select(Incident, Model, Person)
            .join(Model, col(Incident.model_id) == col(Model.id))
            .join(Person, col(Incident.assignee_id) == col(Person.id))
        ).one()
        assert (incident.title, model.name, assignee.name) == ("LTV drift", "LTV", "Ben Okafor")
        # Lists of who and what is current leave them out unless asked.
        assert [p.id for p in list_people(session=session)] == ["ana"]
        assert [p.id for p in list_people(session=session, include_retired=True)] == ["ana", "ben"]
        assert [m.id for m in list_models(session=session)] == ["churn"]

    report = apply(engine, BASE, T3)
    assert report.restored == ["person ben", "model ltv"]
    assert report.retired == []
    with Session(engine) as session:
        assert [p.id for p in list_people(session=session)] == ["ana", "ben"]
        assert [m.id for m in list_models(session=session)] == ["churn", "ltv"]


def _refuse_new_models(engine: Engine) -> None:
    """Make the database itself refuse model inserts: `apply` then fails after its other writes."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_new_models BEFORE INSERT ON models "
                    "BEGIN SELECT RAISE(ABORT, 'models are frozen'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_new_models() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'models are frozen'; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_new_models BEFORE INSERT ON models "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_new_models()"
                )
            )


def test_apply_is_one_transaction_a_failure_leaves_the_catalog_as_it_was(
    db: Database, tmp_path: Path
) -> None:
    assert db.oncall("config", "apply", str(write(tmp_path, BASE))).exit_code == 0
    before = db.snapshot()
    _refuse_new_models(db.engine)

    # Renames a team, retires a person and a model, edits a rotation, then adds a model.
    edited = WITHOUT_BEN_AND_LTV.replace("name: Data Science", "name: Renamed").replace(
        CHURN, CHURN + "  - {id: fraud, name: Fraud, team: ds}\n"
    )
    path = write(tmp_path, edited, "edited.yaml")
    parse_catalog_text(edited, source=str(path))  # valid: only the database can refuse it

    result = db.oncall("config", "apply", str(path))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert "models are frozen" in result.stderr
    assert "nothing was applied" in result.stderr
    assert result.stdout == ""  # no "changed ..." lines for changes that did not happen
    assert db.snapshot() == before


def test_catalog_revision_is_recorded_only_when_something_changed(engine: Engine) -> None:
    first = apply(engine, BASE, T1)
    assert apply(engine, BASE, T2).is_empty
    assert [(r.applied_at, r.changes) for r in revisions(engine)] == [(T1, first.changes)]

    second = apply(engine, WITHOUT_BEN_AND_LTV, T3)
    assert apply(engine, WITHOUT_BEN_AND_LTV, T3 + timedelta(hours=1)).is_empty
    recorded = revisions(engine)
    assert [(r.applied_at, r.source, r.changes) for r in recorded] == [
        (T1, "oncall.yaml", first.changes),
        (T3, "oncall.yaml", second.changes),
    ]
    assert second.changes == [
        "changed rotation primary (layers)",
        "retired person ben",
        "retired model ltv",
    ]
    assert recorded[0].sha256 != recorded[1].sha256
