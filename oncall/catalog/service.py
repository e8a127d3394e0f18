"""Apply a validated catalog to the database: idempotent, one transaction, reports its changes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, col, select

from oncall.catalog.models import (
    CatalogRevision,
    EscalationPolicy,
    Model,
    Person,
    Rotation,
    Route,
    Team,
)
from oncall.catalog.schema import CatalogSpec
from oncall.errors import UnknownEntity as UnknownEntity  # importable from here as before


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[str]:
        return (
            [f"created {x}" for x in self.created]
            + [f"changed {x}" for x in self.changed]
            + [f"restored {x}" for x in self.restored]
            + [f"retired {x}" for x in self.retired]
        )

    @property
    def is_empty(self) -> bool:
        return not self.changes


def _rows(spec: CatalogSpec) -> dict[type[SQLModel], dict[str, dict[str, Any]]]:
    """The rows the catalog asks for, keyed by table and id, as plain column values."""
    default_tz = spec.timezone
    return {
        Team: {
            t.id: {
                "name": t.name,
                "slack_channel": t.slack_channel,
                "leads": list(t.leads),
                "pagerduty_routing_key": t.pagerduty_routing_key,
                "rca_template": t.rca_template_source,
            }
            for t in spec.teams
        },
        Person: {
            p.id: {
                "name": p.name,
                "slack_user": p.slack_user,
                "email": p.email,
                "timezone": p.timezone or default_tz,
            }
            for p in spec.people
        },
        Rotation: {
            r.id: {
                "team_id": r.team,
                "timezone": r.timezone or default_tz,
                "slack_usergroup": r.slack_usergroup,
                "layers": [
                    {
                        "name": layer.name or str(index + 1),
                        "members": list(layer.members),
                        "start": layer.start.isoformat(timespec="minutes"),
                        "shift": layer.shift,
                        "restrict": list(layer.restrict),
                    }
                    for index, layer in enumerate(r.layers)
                ],
            }
            for r in spec.rotations
        },
        EscalationPolicy: {
            p.id: {"steps": [s.model_dump() for s in p.steps]} for p in spec.escalation_policies
        },
        Model: {
            m.id: {
                "name": m.name,
                "team_id": m.team,
                "rotation_id": m.rotation,
                "escalation_policy_id": m.escalation_policy,
                "readiness": m.readiness.model_dump(mode="json", exclude_unset=True),
                "serves": m.serves,
            }
            for m in spec.models
        },
    }


_KIND = {
    Team: "team",
    Person: "person",
    Rotation: "rotation",
    EscalationPolicy: "escalation policy",
    Model: "model",
}
# Referenced tables first on create, last on retire.
_ORDER: tuple[type[SQLModel], ...] = (Team, Person, Rotation, EscalationPolicy, Model)

T = TypeVar("T", bound=SQLModel)


def apply_catalog(
    *, session: Session, spec: CatalogSpec, now: datetime, source: str = "oncall.yaml"
) -> ApplyReport:
    """Make the database match `spec`; retired rows keep their history; twice is a no-op."""
    report = ApplyReport()
    wanted = _rows(spec)
    for table in _ORDER:
        kind = _KIND[table]
        existing = {row.id: row for row in session.exec(select(table))}  # type: ignore[attr-defined]
        for entity_id, values in wanted[table].items():
            row = existing.get(entity_id)
            if row is None:
                session.add(table(id=entity_id, **values))
                report.created.append(f"{kind} {entity_id}")
                continue
            differing = [k for k, v in values.items() if getattr(row, k) != v]
            for key in differing:
                setattr(row, key, values[key])
            if getattr(row, "retired_at", None) is not None:
                setattr(row, "retired_at", None)  # noqa: B010  (every catalog table has it)
                report.restored.append(f"{kind} {entity_id}")
            elif differing:
                report.changed.append(f"{kind} {entity_id} ({', '.join(differing)})")
            session.add(row)
        for entity_id, row in existing.items():
            if entity_id not in wanted[table] and getattr(row, "retired_at", None) is None:
                setattr(row, "retired_at", now)  # noqa: B010
                session.add(row)
                report.retired.append(f"{kind} {entity_id}")
    session.flush()

    wanted_routes: list[dict[str, Any]] = [
        {
            "match": dict(r.match),
            "rotation_id": r.rotation,
            "escalation_policy_id": r.escalation_policy,
        }
        for r in spec.routes
    ]
    current = list(session.exec(select(Route).order_by(col(Route.position))))
    current_routes = [
        {
            "match": r.match,
            "rotation_id": r.rotation_id,
            "escalation_policy_id": r.escalation_policy_id,
        }
        for r in current
    ]
    if wanted_routes != current_routes:
        for row in current:
            session.delete(row)
        session.flush()
        for position, values in enumerate(wanted_routes):
            session.add(Route(position=position, **values))
        report.changed.append(f"routes ({len(current_routes)} -> {len(wanted_routes)})")

    if not report.is_empty:
        digest = hashlib.sha256(
            json.dumps(spec.model_dump(mode="json"), sort_keys=True).encode()
        ).hexdigest()
        session.add(
            CatalogRevision(applied_at=now, source=source, sha256=digest, changes=report.changes)
        )
    session.flush()
    return report


def active(rows: Iterable[T]) -> list[T]:
    return [r for r in rows if getattr(r, "retired_at", None) is None]


def get_person(*, session: Session, person_id: str) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise UnknownEntity("person", person_id)
    return person


def get_rotation(*, session: Session, rotation_id: str) -> Rotation:
    rotation = session.get(Rotation, rotation_id)
    if rotation is None:
        raise UnknownEntity("rotation", rotation_id)
    return rotation


def list_teams(*, session: Session, include_retired: bool = False) -> list[Team]:
    rows = list(session.exec(select(Team).order_by(col(Team.id))))
    return rows if include_retired else active(rows)


def list_people(*, session: Session, include_retired: bool = False) -> list[Person]:
    rows = list(session.exec(select(Person).order_by(col(Person.id))))
    return rows if include_retired else active(rows)


def list_rotations(*, session: Session, include_retired: bool = False) -> list[Rotation]:
    rows = list(session.exec(select(Rotation).order_by(col(Rotation.id))))
    return rows if include_retired else active(rows)


def list_models(*, session: Session, include_retired: bool = False) -> list[Model]:
    rows = list(session.exec(select(Model).order_by(col(Model.id))))
    return rows if include_retired else active(rows)


def list_routes(*, session: Session) -> list[Route]:
    return list(session.exec(select(Route).order_by(col(Route.position))))
