"""Helpers for incident tests: load the real Alertmanager payloads and count stored rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from oncall.escalation.models import Escalation

ALERTMANAGER = Path(__file__).resolve().parents[1] / "fixtures" / "alertmanager"


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ALERTMANAGER / f"{name}.json").read_text(encoding="utf-8"))
    return data


def count(engine: Engine, table: type[SQLModel]) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(table)).one())


def escalation_of(engine: Engine, incident_id: int | None) -> Escalation:
    """Where an incident's escalation stands (the escalation domain's row)."""
    with Session(engine) as s:
        state = s.get(Escalation, incident_id)
        assert state is not None, f"incident {incident_id} has no escalation"
        return state
