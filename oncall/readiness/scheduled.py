"""The leader's readiness job: one PRS snapshot per model per UTC day, so trends exist.

It runs every few minutes and stores only the snapshots still missing today, so a restart,
a new leader or a model added at noon still gets its day's snapshot, and never a second one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from oncall.db import session_scope
from oncall.readiness import service
from oncall.readiness.live import LiveEvidence

INTERVAL_SECONDS = 600.0


def take_daily_snapshots(*, engine: Engine, now: datetime, live: LiveEvidence | None) -> int:
    if live is not None:
        live.readings(now=now)  # Prometheus is asked (and cached) before a transaction opens
    with session_scope(engine) as session:
        return service.take_daily_snapshots(session, now=now, live=live)
