"""The RCA drafting job: a draft for every incident that resolved and has none yet, each in its
own transaction, so one incident that cannot be drafted never holds back the others."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from oncall.db import session_scope
from oncall.incidents.models import Incident, IncidentStatus
from oncall.rca import service
from oncall.rca.models import RcaDocument

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 30
WITHIN = timedelta(days=7)  # incidents resolved longer ago get an RCA only on demand
BATCH = 20


def resolved_without_rca(
    *, session: Session, now: datetime, within: timedelta = WITHIN, limit: int = BATCH
) -> list[int]:
    """Incidents resolved in the last `within` that have no RCA yet, oldest first."""
    rows = session.exec(
        select(Incident.id)
        .join(RcaDocument, col(RcaDocument.incident_id) == col(Incident.id), isouter=True)
        .where(Incident.status == IncidentStatus.resolved)
        .where(col(Incident.resolved_at) >= now - within)
        .where(col(RcaDocument.incident_id).is_(None))
        .order_by(col(Incident.resolved_at), col(Incident.id))
        .limit(limit)
    ).all()
    return [int(i) for i in rows if i is not None]


def draft_resolved(
    *,
    engine: Engine,
    now: datetime,
    public_url: str = service.DEFAULT_PUBLIC_URL,
    prs_provider: service.PrsProvider = service.prs_at_incident,
) -> int:
    """Draft the RCAs of recently resolved incidents that have none; return how many."""
    with session_scope(engine) as session:
        incident_ids = resolved_without_rca(session=session, now=now)
    drafted = 0
    for incident_id in incident_ids:
        try:
            with session_scope(engine) as session:
                result = service.generate(
                    session=session,
                    incident_id=incident_id,
                    now=now,
                    prs_provider=prs_provider,
                    public_url=public_url,
                )
        except Exception:
            log.exception("RCA of incident %s failed; it is tried again next run", incident_id)
            continue
        drafted += int(result.created)
    return drafted
