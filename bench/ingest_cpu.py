"""CPU per new incident inside the process, without HTTP: the webhook's store path alone.

    python bench/ingest_cpu.py [N]

On a fresh SQLite file with the example catalog, N one-alert GPU deliveries (each a new group,
so each opens an incident with its timeline, escalation and two outbox rows) are stored one
transaction each, then in shared transactions of 2, 4 and 8 (the webhook's group commit);
after each batch the outbox is delivered to the console channel (logging to a file). Prints
the process CPU time per incident for both. No baseline: compare runs of the same build on
the same machine, or builds run one after the other.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_ingest as b
from sqlmodel import Session, SQLModel

import oncall.tables  # noqa: F401  (registers every table)
from oncall import outbox
from oncall.api import webhook
from oncall.catalog.loader import load_catalog
from oncall.catalog.service import apply_catalog
from oncall.clock import system_clock
from oncall.config import Settings
from oncall.db import make_engine
from oncall.incidents.alertmanager import AlertmanagerPayload, read_delivery
from oncall.integrations.delivery import build_handlers


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    with tempfile.TemporaryDirectory(prefix="oncall-ingest-cpu-") as name:
        tmp = Path(name)
        logging.basicConfig(
            level=logging.INFO,
            filename=str(tmp / "oncall.log"),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        engine = make_engine(f"sqlite:///{tmp / 'oncall.db'}")
        SQLModel.metadata.create_all(engine)
        with Session(engine) as session:
            apply_catalog(session=session, spec=load_catalog(b.CATALOG), now=system_clock())
            session.commit()
        settings = Settings(ONCALL_DATABASE_URL="sqlite://")
        app = SimpleNamespace(state=SimpleNamespace(engine=engine, settings=settings))
        app.state.clock = system_clock
        handlers = build_handlers(settings)
        shape = b.cluster_shape()

        def deliveries(prefix: str) -> list[AlertmanagerPayload]:
            out = []
            for i in range(n):
                payload = read_delivery(shape.body(f"{prefix}-{i}"), now=system_clock()).payload
                assert payload is not None
                out.append(payload)
            return out

        def deliver() -> float:
            started = time.process_time()
            outbox.deliver_due(engine=engine, handlers=handlers, now=system_clock)
            return time.process_time() - started

        for payload in deliveries("warm")[:100]:
            webhook._store(app, payload)
        deliver()
        for size in (1, 2, 4, 8):
            batch = deliveries(f"g{size}")
            started = time.process_time()
            if size == 1:
                for payload in batch:
                    webhook._store(app, payload)
            else:
                for i in range(0, n, size):
                    stored = webhook._store_together(app, batch[i : i + size])
                    assert isinstance(stored, list), stored
            store = time.process_time() - started
            sent = deliver()
            print(
                f"{'one transaction each' if size == 1 else f'{size} per transaction':>22}: "
                f"store {store / n * 1000:.3f} ms CPU an incident, "
                f"outbox (2 rows, console) {sent / n * 1000:.3f} ms"
            )
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
