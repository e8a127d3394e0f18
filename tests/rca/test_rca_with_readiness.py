"""The RCA with the readiness domain's own scores: the snapshot at the time, or the score
computed from the catalog when no snapshot is that old (skipped where readiness is absent)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rca_helpers import T0, ingest, resolve
from sqlalchemy.engine import Engine
from sqlmodel import Session

from oncall.db import session_scope
from oncall.rca import service
from oncall.rca.content import NO_PRS

readiness = pytest.importorskip("oncall.readiness.service")


def draft(engine: Engine, incident_id: int) -> service.Generated:
    with session_scope(engine) as s:
        return service.generate(session=s, incident_id=incident_id, now=T0 + timedelta(hours=2))


def test_the_snapshot_before_the_incident_is_the_prs_at_the_time(catalog: Engine) -> None:
    with session_scope(catalog) as s:
        snapshot = readiness.take_snapshot(s, "churn", now=T0 - timedelta(hours=1))
        readiness.take_snapshot(s, "churn", now=T0 + timedelta(hours=1))  # after: not used
    incident_id = ingest(catalog, "drift-firing", T0)
    resolve(catalog, incident_id, "taka", T0 + timedelta(minutes=30))

    result = draft(catalog, incident_id)

    markdown = result.document.markdown
    assert "snapshot of 2026-03-03 14:00:00 UTC" in markdown
    assert f"churn: **{snapshot.percent:.0f}%**" in markdown
    for check in snapshot.checks:
        assert check.title.replace("_", "\\_") in markdown or check.title in markdown
    gaps = [c.id for c in snapshot.gaps()]
    assert gaps, "the example churn model has gaps (integration tests by hand, no rollback plan)"
    with Session(catalog) as s:
        items = service.action_items_of(session=s, incident_id=incident_id)
    assert [i.check_id for i in items] == gaps
    assert all(i.owner_id == "emily" and i.model_id == "churn" for i in items)


def test_without_a_snapshot_the_score_is_computed_for_the_incident_time(catalog: Engine) -> None:
    incident_id = ingest(catalog, "drift-firing", T0)

    markdown = draft(catalog, incident_id).document.markdown

    assert "no snapshot that old: computed from the catalog's evidence for 2026-03-03 15:00:00" in (
        markdown
    )
    assert NO_PRS not in markdown


def test_a_model_outside_the_catalog_has_no_score(catalog: Engine) -> None:
    incident_id = ingest(catalog, "unicode-and-injection", T0)

    markdown = draft(catalog, incident_id).document.markdown

    assert f"{NO_PRS}." in markdown
