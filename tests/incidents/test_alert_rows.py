"""Alert rows as the bulk writer stores them (executemany on SQLite, COPY on PostgreSQL): read
back through the ORM exactly, and the database's own guard against a duplicate occurrence
surfaces as SQLAlchemy's IntegrityError, which the webhook retries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from helpers import count, payload
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from oncall.incidents.alertmanager import AlertmanagerPayload
from oncall.incidents.alerts import record_alerts
from oncall.incidents.ingest import ingest_alertmanager
from oncall.incidents.models import Alert, Incident

NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)


def test_stored_alerts_read_back_as_sent_including_hostile_text(catalog: Engine) -> None:
    sent = AlertmanagerPayload.model_validate(payload("unicode-and-injection"))
    with Session(catalog) as s:
        ingest_alertmanager(session=s, payload=sent, now=NOW)
        s.commit()
    with Session(catalog) as s:
        stored = {a.fingerprint: a for a in s.exec(select(Alert).order_by(col(Alert.id)))}
    assert len(stored) == len(sent.alerts)
    for alert in sent.alerts:
        row = stored[alert.fingerprint]
        assert row.labels == alert.labels
        assert row.annotations == alert.annotations  # newlines, tabs, backslashes, <!channel>
        assert row.starts_at == alert.startsAt
        assert row.ends_at == alert.ends_at
        assert row.generator_url == alert.generatorURL
        assert (row.first_seen_at, row.last_seen_at) == (NOW, NOW)


def test_a_duplicate_occurrence_is_refused_as_an_integrity_error(catalog: Engine) -> None:
    sent = AlertmanagerPayload.model_validate(payload("storm-200"))
    with Session(catalog) as s:
        ingest_alertmanager(session=s, payload=sent, now=NOW)
        s.commit()
    with Session(catalog, expire_on_commit=False) as s:
        (incident,) = s.exec(select(Incident)).all()
        # As if this delivery had not seen the rows another one stored: the unique index holds.
        with pytest.raises(IntegrityError):
            record_alerts(s, incident, list(sent.alerts), {}, NOW)
        s.rollback()
    assert count(catalog, Alert) == 200
