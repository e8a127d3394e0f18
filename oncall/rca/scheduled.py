"""The RCA drafting job: a draft for every incident that resolved and has none yet, each in its
own transaction, so one incident that cannot be drafted never holds back the others."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.engine import Engine

from oncall.db import session_scope
from oncall.rca import service

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 30


def draft_resolved(
    *,
    engine: Engine,
    now: datetime,
    public_url: str = service.DEFAULT_PUBLIC_URL,
    prs_provider: service.PrsProvider = service.prs_at_incident,
) -> int:
    """Draft the RCAs of recently resolved incidents that have none; return how many."""
    with session_scope(engine) as session:
        incident_ids = service.resolved_without_rca(session=session, now=now)
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
