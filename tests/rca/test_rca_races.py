"""Two drafts of the same RCA at once (the leader's job and a person): one document, one
thread message, and the second becomes a refresh instead of an error. PostgreSQL only: there
the second insert really waits for the first transaction."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

from rca_helpers import PUBLIC, T0, ingest, outbox_rows
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, func, select

from oncall.catalog.loader import load_catalog
from oncall.catalog.service import apply_catalog
from oncall.db import session_scope
from oncall.outbox import MessageKind
from oncall.rca import service
from oncall.rca.models import RcaDocument

EXAMPLE_CATALOG = Path(__file__).parents[1] / "fixtures" / "oncall.yaml"


def no_prs(*_: object) -> None:
    return None


def wait_for_a_lock_wait(engine: Engine) -> None:
    """Until some transaction waits for a lock (the second draft's insert)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with engine.connect() as c:
            if c.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar():
                return
    raise AssertionError("the second draft never waited for the first")


def test_concurrent_drafts_make_one_document_and_one_link(pg_engine: Engine) -> None:
    SQLModel.metadata.create_all(pg_engine)
    with session_scope(pg_engine) as s:
        apply_catalog(session=s, spec=load_catalog(EXAMPLE_CATALOG), now=T0)
    incident_id = ingest(pg_engine, "drift-firing", T0)
    results: list[service.Generated] = []

    def second() -> None:
        with session_scope(pg_engine) as s:
            results.append(
                service.generate(
                    session=s,
                    incident_id=incident_id,
                    now=T0 + timedelta(minutes=1),
                    prs_provider=no_prs,
                    public_url=PUBLIC,
                )
            )

    with Session(pg_engine, expire_on_commit=False) as first:
        created = service.generate(
            session=first, incident_id=incident_id, now=T0, prs_provider=no_prs, public_url=PUBLIC
        )
        thread = threading.Thread(target=second)
        thread.start()
        wait_for_a_lock_wait(pg_engine)
        first.commit()
    thread.join(timeout=30)

    assert created.created and [r.created for r in results] == [False]
    with Session(pg_engine) as s:
        assert s.exec(select(func.count()).select_from(RcaDocument)).one() == 1
    links = [
        r
        for r in outbox_rows(pg_engine, incident_id)
        if r.kind == MessageKind.thread_message and "RCA draft" in r.payload["text"]
    ]
    assert len(links) == 1
