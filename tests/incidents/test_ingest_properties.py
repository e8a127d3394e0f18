"""Properties of ingest that must hold for every order of deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpers import ALERTMANAGER, payload
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, col, create_engine, select

import oncall.tables  # noqa: F401
from oncall.catalog.loader import load_catalog
from oncall.catalog.service import apply_catalog
from oncall.incidents.alertmanager import AlertmanagerPayload
from oncall.incidents.ingest import ingest_alertmanager
from oncall.incidents.models import Alert, Incident
from oncall.outbox import OutboxMessage

NAMES = [
    "drift-firing",
    "drift-resolved",
    "drift-refiring",
    "gpu-xid-firing",
    "gpu-xid-partly-resolved",
    "gpu-xid-resolved",
    "batch-failure-firing",
    "batch-failure-resolved",
]
PAYLOADS = {name: AlertmanagerPayload.model_validate(payload(name)) for name in NAMES}
SPEC = load_catalog(ALERTMANAGER.parent / "oncall.yaml")
T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def run(deliveries: list[str]) -> tuple[object, ...]:
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    SQLModel.metadata.create_all(engine)
    with Session(engine) as s:
        apply_catalog(session=s, spec=SPEC, now=T0)
        s.commit()
    for step, name in enumerate(deliveries):
        with Session(engine) as s:
            # One second between deliveries: all within the flap window.
            ingest_alertmanager(session=s, payload=PAYLOADS[name], now=T0 + timedelta(seconds=step))
            s.commit()
    with Session(engine) as s:
        incidents = [
            (i.group_key, i.status, i.severity, i.truncated_alerts)
            for i in s.exec(select(Incident).order_by(col(Incident.id)))
        ]
        alerts = sorted(
            (a.fingerprint, a.starts_at.isoformat(), a.status) for a in s.exec(select(Alert))
        )
        outbox = sorted(
            (m.channel, m.kind, str(m.payload.get("event_action")))
            for m in s.exec(select(OutboxMessage))
        )
    engine.dispose()
    return tuple(incidents), tuple(alerts), tuple(outbox)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=8),
    st.lists(st.integers(min_value=1, max_value=3), min_size=8, max_size=8),
)
def test_redelivering_any_payload_right_away_changes_nothing(
    deliveries: list[str], repeats: list[int]
) -> None:
    """Alertmanager retries (timeouts, 5xx) send the same body again: as if it came once."""
    repeated = [
        name for name, times in zip(deliveries, repeats, strict=False) for _ in range(times)
    ]
    repeated += deliveries[len(repeats) :]
    assert run(repeated) == run(deliveries)


# "At most one open incident per group" is a race, not an order: it is tested with concurrent
# deliveries against PostgreSQL in test_webhook_concurrency.py (sequential deliveries could
# never break it: the unique index on open_group_hash forbids it).
