"""`oncall incidents`: list, show, acknowledge, resolve, escalate."""

from __future__ import annotations

import typer

from oncall.commands import common

app = typer.Typer(help="Incidents from Alertmanager alerts.", no_args_is_help=True)

ByOption = typer.Option(None, "--by", help="Person id recorded as the actor (default: cli).")


def _public(session: object, incident: object) -> dict[str, object]:
    from oncall.escalation.service import state_of
    from oncall.incidents.schemas import IncidentPublic

    state = state_of(session=session, incident_id=incident.id)  # type: ignore[arg-type,attr-defined]
    return IncidentPublic.of(incident, state).model_dump(mode="json")  # type: ignore[arg-type]


@app.command("list")
def list_(
    status: str | None = typer.Option(
        None, "--status", help="triggered, acknowledged or resolved."
    ),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List incidents, newest first."""
    from oncall.incidents import service

    if status is not None and status not in ("triggered", "acknowledged", "resolved"):
        common.fail(f"--status: {status!r} is not one of triggered, acknowledged, resolved")
    with common.session() as session:
        rows = service.list_incidents(session=session, status=status, limit=limit)
        if as_json:
            common.emit_json([_public(session, i) for i in rows])
            return
        if not rows:
            typer.echo("no incidents" + (f" with status {status}" if status else ""))
            return
        for i in rows:
            who = i.acknowledged_by or i.assignee_id or "-"
            typer.echo(
                f"#{i.id:<5} {i.status:<12} {i.severity:<8} {i.triggered_at:%Y-%m-%d %H:%M}Z "
                f"{(i.model_id or i.team_id or '-'):<14} {who:<8} {i.title}"
            )


@app.command()
def show(
    incident_id: int = typer.Argument(...), as_json: bool = typer.Option(False, "--json")
) -> None:
    """One incident with its alerts and timeline."""
    from oncall.incidents import service

    with common.session() as session:
        incident = service.get_incident(session=session, incident_id=incident_id)
        alerts = service.alerts_of(session=session, incident_id=incident_id)
        timeline = service.timeline_of(session=session, incident_id=incident_id)
        if as_json:
            from oncall.incidents.schemas import AlertPublic, EventPublic

            data = _public(session, incident)
            data["alerts"] = [AlertPublic.of(a).model_dump(mode="json") for a in alerts]
            data["timeline"] = [EventPublic.of(e).model_dump(mode="json") for e in timeline]
            common.emit_json(data)
            return
        typer.echo(f"#{incident.id} {incident.title}")
        typer.echo(f"  status:    {incident.status} (severity {incident.severity})")
        typer.echo(f"  team:      {incident.team_id or '-'}   model: {incident.model_id or '-'}")
        typer.echo(
            f"  rotation:  {incident.rotation_id or '-'}   assignee: {incident.assignee_id or '-'}"
        )
        if incident.routing_warning:
            typer.echo(f"  warning:   {incident.routing_warning}")
        if incident.truncated_alerts:
            typer.echo(f"  truncated: {incident.truncated_alerts} alerts left out by Alertmanager")
        firing = sum(1 for a in alerts if a.status == "firing")
        typer.echo(f"  alerts:    {len(alerts)} ({firing} firing)")
        typer.echo("  timeline:")
        for e in timeline:
            typer.echo(f"    {e.at:%Y-%m-%d %H:%M:%S}Z  {e.kind:<15} {e.actor:<13} {e.text[:160]}")


def _transition(incident_id: int, by: str | None, action: str, note: str | None = None) -> None:
    from oncall.actors import check_actor
    from oncall.incidents import service

    with common.session() as session:
        actor = check_actor(session=session, by="cli" if by is None else by)
        if action == "ack":
            incident = service.acknowledge(
                session=session, incident_id=incident_id, by=actor, now=common.now()
            )
            typer.echo(f"#{incident.id} acknowledged by {actor}")
        elif action == "resolve":
            incident = service.resolve(
                session=session, incident_id=incident_id, by=actor, now=common.now(), note=note
            )
            typer.echo(f"#{incident.id} resolved by {incident.resolved_by}")
        else:
            what = service.escalate(
                session=session, incident_id=incident_id, by=actor, now=common.now()
            )
            typer.echo(f"#{incident_id} escalated: {what}")


@app.command()
def ack(incident_id: int = typer.Argument(...), by: str | None = ByOption) -> None:
    """Acknowledge: you are on it; escalation stops."""
    _transition(incident_id, by, "ack")


@app.command()
def resolve(
    incident_id: int = typer.Argument(...),
    by: str | None = ByOption,
    note: str | None = typer.Option(None, "--note"),
) -> None:
    """Resolve the incident."""
    _transition(incident_id, by, "resolve", note)


@app.command()
def escalate(incident_id: int = typer.Argument(...), by: str | None = ByOption) -> None:
    """Fire the next escalation step now."""
    _transition(incident_id, by, "escalate")
