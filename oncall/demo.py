"""`oncall demo`: the whole story on embedded defaults, with no credentials and no network.

SQLite in a temporary folder, the example catalog, real-shaped Alertmanager payloads posted to
the real HTTP endpoint of a server on 127.0.0.1, Slack and PagerDuty written to the console,
a simulated clock so escalation delays pass in seconds, files written to disk.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import typer
import uvicorn

from oncall import migrate, outbox
from oncall.app import create_app
from oncall.catalog.loader import load_catalog
from oncall.catalog.service import apply_catalog, list_rotations, list_teams
from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.db import make_engine, session_scope
from oncall.demo_prometheus import LocalPrometheus, local_prometheus
from oncall.incidents import service as incidents
from oncall.integrations.console import console_handler
from oncall.integrations.prometheus import PrometheusEvidence
from oncall.outbox import Channel, Handler
from oncall.rca import scheduled as rca_jobs
from oncall.rca import service as rca_service

EXAMPLES = Path(__file__).parent / "examples"
CATALOG = EXAMPLES / "oncall.yaml"
PAYLOADS = EXAMPLES / "alertmanager"


def _say(text: str = "") -> None:
    typer.echo(text)


def _heading(text: str) -> None:
    _say()
    _say(typer.style(f"== {text}", bold=True))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """uvicorn on 127.0.0.1 in a thread, so the demo posts to a real HTTP endpoint."""

    def __init__(self, app: Any, port: int) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the demo server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def run_demo(*, serve_after: bool = False, port: int = 8080, output: str | None = None) -> None:
    folder = Path(output) if output else Path(tempfile.mkdtemp(prefix="oncall-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "oncall.db"
    if db_path.exists():
        db_path.unlink()
    url = f"sqlite:///{db_path}"
    webhook_secret = secrets.token_hex(16)  # signs the demo's own PagerDuty webhook
    settings = Settings(
        ONCALL_DATABASE_URL=url,
        ONCALL_PUBLIC_URL=f"http://127.0.0.1:{port}",
        PAGERDUTY_WEBHOOK_SECRET=webhook_secret,
    )
    engine = make_engine(url)
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    sent: list[str] = []

    def show(line: str) -> None:
        sent.append(line)
        _say(f"   → {line}")

    console = console_handler(show, settings=settings, clock=clock)
    handlers: dict[str, Handler] = {
        Channel.slack: console,
        Channel.pagerduty: console,
        Channel.console: console,
    }

    def deliver() -> None:
        outbox.deliver_due(engine=engine, handlers=handlers, now=clock)

    _heading("oncall demo: embedded catalog, SQLite, no Slack or PagerDuty account needed")
    _say(f"   working folder: {folder}")
    migrate.upgrade(engine)
    spec = load_catalog(CATALOG)
    with session_scope(engine) as session:
        report = apply_catalog(session=session, spec=spec, now=clock(), source=str(CATALOG))
    _say(f"   catalog applied: {len(report.created)} entries created")

    _heading("Teams and rotations")
    with session_scope(engine) as session:
        for team in list_teams(session=session):
            _say(f"   team {team.id:<12} {team.name} (Slack {team.slack_channel})")
        for rotation in list_rotations(session=session):
            layers = ", ".join(
                f"{layer['name']}: {'/'.join(layer['members'])} every {layer['shift']}"
                for layer in rotation.layers
            )
            _say(f"   rotation {rotation.id:<17} {rotation.timezone:<17} {layers}")
        _show_on_call(session, clock())

    app = create_app(settings, engine=engine, clock=clock, background=False)
    with (
        local_prometheus(folder, clock()) as prometheus,
        _Server(app, _free_port()) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        live = PrometheusEvidence(prometheus.url) if prometheus.url else None
        _snapshot_prs(engine, clock(), live)
        _heading(f"Replaying Alertmanager payloads to {server.url}/api/v1/alerts/alertmanager")
        for name in ("drift-firing", "drift-firing", "batch-failure-firing", "gpu-xid-firing"):
            body = json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
            answer = http.post("/api/v1/alerts/alertmanager", json=body).json()
            _say(f" {name:<22} → incident #{answer['incident_id']} {answer['outcome']}")
            deliver()

        _heading("Acknowledgements and escalation (simulated clock)")
        clock.advance(timedelta(minutes=1))
        churn = _incident_for(engine, "churn")
        who = http.get(f"/api/v1/incidents/{churn}").json()["assignee_id"] or "emily"
        http.post(f"/api/v1/incidents/{churn}/ack", json={"by": who})
        _say(f" +1 min   {who} acknowledges #{churn}: the message updates, no page follows")
        deliver()
        clock.advance(timedelta(minutes=14))
        _say(" +15 min  nobody acknowledged the ltv batch failure: PagerDuty is paged")
        _fire_escalations(engine, clock())
        deliver()
        clock.advance(timedelta(minutes=5))
        ltv = _incident_for(engine, "ltv")
        outcome = _ack_from_pagerduty(http, ltv, webhook_secret, "Ryan Curtin")
        _say(f" +20 min  Ryan acknowledges in PagerDuty's app; its signed webhook: {outcome}")
        deliver()
        clock.advance(timedelta(minutes=10))
        fired = _fire_escalations(engine, clock())
        _say(f" +30 min  acknowledged: the team-channel step does not fire ({fired} fired)")
        deliver()

        _heading("The alerts clear")
        clock.advance(timedelta(minutes=10))
        for name in ("drift-resolved", "gpu-xid-partly-resolved", "gpu-xid-resolved"):
            body = json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
            answer = http.post("/api/v1/alerts/alertmanager", json=body).json()
            _say(f" {name:<22} → incident #{answer['incident_id']} {answer['outcome']}")
            deliver()

        _heading("RCA drafts for the resolved incidents (the scheduler leader's job)")
        drafted = rca_jobs.draft_resolved(
            engine=engine, now=clock(), public_url=settings.public_url
        )
        _say(f"   {drafted} RCA draft(s): the link goes to each incident's thread")
        deliver()

        _heading("Incidents")
        for row in http.get("/api/v1/incidents").json():
            _say(
                f"   #{row['id']:<3} {row['status']:<12} {row['severity']:<8} "
                f"{(row['model_id'] or row['team_id'] or '-'):<8} {row['title']}"
            )

        _show_prs(engine, clock(), live, prometheus)

        files = _write_files(engine, folder, clock())
        _heading("Files written")
        for label, path in files:
            _say(f"   {label:<10} {path}")
        _say(f"   database   {db_path}")
        _say()
        _say(f"{len(sent)} messages would have gone to Slack and PagerDuty (shown above).")
        _say("Run `oncall demo --serve` to keep the service up and look around.")

    if serve_after:
        _heading(f"Serving on http://127.0.0.1:{port} (Ctrl-C to stop)")
        _say(f"   dashboard: http://127.0.0.1:{port}/   API docs: http://127.0.0.1:{port}/docs")
        uvicorn.run(
            create_app(settings, engine=engine), host="127.0.0.1", port=port, log_level="warning"
        )
    engine.dispose()


def _show_on_call(session: Any, now: datetime) -> None:
    from oncall.rotations.queries import who_is_on_call_everywhere

    _say()
    _say(f"   on call now ({now:%a %Y-%m-%d %H:%M} UTC):")
    for rotation, shift in who_is_on_call_everywhere(session=session, at=now):
        if shift is None:
            _say(f"     {rotation.id:<17} nobody (a gap)")
        else:
            _say(
                f"     {rotation.id:<17} {shift.person_id:<6} until {shift.end:%a %H:%M} UTC "
                f"(layer {shift.layer})"
            )


def _incident_for(engine: Any, model: str) -> int:
    with session_scope(engine) as session:
        for incident in incidents.list_incidents(session=session):
            if incident.model_id == model and incident.id is not None:
                return incident.id
    raise LookupError(model)


def _fire_escalations(engine: Any, now: datetime) -> int:
    return incidents.fire_due_escalations(engine=engine, now=now)


def _ack_from_pagerduty(http: httpx.Client, incident_id: int, secret: str, agent: str) -> str:
    """What PagerDuty sends when someone acknowledges in its app: a v3 webhook, signed."""
    body = json.dumps(
        {
            "event": {
                "event_type": "incident.acknowledged",
                "resource_type": "incident",
                "agent": {"summary": agent, "type": "user_reference"},
                "data": {"type": "incident", "incident_key": f"oncall-{incident_id}"},
            }
        }
    ).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    answer = http.post(
        "/api/v1/pagerduty/webhook",
        content=body,
        headers={"Content-Type": "application/json", "X-PagerDuty-Signature": f"v1={signature}"},
    )
    return str(answer.json().get("outcome", answer.text))


def _write_files(engine: Any, folder: Path, now: datetime) -> list[tuple[str, Path]]:
    from oncall.rotations.ical import export_rotation_ics

    with session_scope(engine) as session:
        ics = export_rotation_ics(
            session=session,
            rotation_id="growth-primary",
            start=now - timedelta(days=7),
            end=now + timedelta(days=56),
            now=now,
        )
    path = folder / "growth-primary.ics"
    path.write_bytes(ics)
    files = [("calendar", path)]
    with session_scope(engine) as session:
        for document in rca_service.list_documents(session=session, now=now):
            rca_path = folder / f"rca-{document.incident_id}.md"
            rca_path.write_text(document.markdown, encoding="utf-8")
            files.append((f"RCA #{document.incident_id}", rca_path))
    return files


def _snapshot_prs(engine: Any, now: datetime, live: PrometheusEvidence | None) -> None:
    """The day's PRS snapshots, as the scheduler's leader takes them: the RCA's "PRS at the
    time of the incident" reads them."""
    from oncall.readiness.service import take_daily_snapshots

    with session_scope(engine) as session:
        take_daily_snapshots(session, now=now, live=live)


def _show_prs(
    engine: Any, now: datetime, live: PrometheusEvidence | None, prometheus: LocalPrometheus
) -> None:
    from oncall.readiness import render
    from oncall.readiness.service import models_prs

    if prometheus.url is not None:
        _heading(f"Production Readiness Score (live evidence: {prometheus.why})")
    else:
        _heading(f"Production Readiness Score (declared evidence only: {prometheus.why})")
    with session_scope(engine) as session:
        scores = models_prs(session, now=now, live=live)
    readings = live.readings(now=now) if live is not None else None
    _say(f"   {render.evidence_line(readings)}")
    for line in render.table(scores):
        _say(f"   {line}")
    for prs in scores:
        gaps = prs.gaps()[:3]
        if gaps:
            _say()
            _say(f"   {prs.model_id}: {render.headline(prs)}; top gaps:")
            for gap in gaps:
                _say(f"     - {gap.title} [{gap.status}]: {gap.improve}")
