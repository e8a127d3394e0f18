"""The escalation job: fire every step that has fallen due, each incident in its own
transaction, so one incident that cannot be escalated never holds back the others."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.engine import Engine

from oncall.db import session_scope
from oncall.escalation.service import Notify, due_incident_ids, fire_due

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 5


def fire_due_escalations(*, engine: Engine, now: datetime, notify: Notify) -> int:
    """Fire what is due at `now`; return how many steps fired. An incident that fails is
    logged and tried again on the next run (its step was not claimed: nothing committed)."""
    with session_scope(engine) as session:
        incident_ids = due_incident_ids(session=session, now=now)
    fired = 0
    for incident_id in incident_ids:
        try:
            with session_scope(engine) as session:
                steps = fire_due(session=session, incident_id=incident_id, now=now)
                if steps:
                    notify(
                        session=session,
                        incident_id=incident_id,
                        steps=steps,
                        now=now,
                        actor="escalation",
                        opening=False,
                    )
        except Exception:
            log.exception(
                "escalation of incident %s failed; it is tried again next run", incident_id
            )
            continue
        fired += len(steps)
    return fired
