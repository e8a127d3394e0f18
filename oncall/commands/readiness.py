"""`oncall prs`: Production Readiness Score per model, with its gaps."""

from __future__ import annotations

import typer

from oncall.commands import common


def register(app: typer.Typer) -> None:
    app.command()(prs)


def prs(
    model: str | None = typer.Argument(None, help="Model id (default: every model)."),
    team: str | None = typer.Option(None, "--team", help="Only the models of this team."),
    snapshot: bool = typer.Option(
        False, "--snapshot", help="Also store the scores as snapshots (for trends)."
    ),
    as_json: bool = common.JsonOption,
) -> None:
    """Production Readiness Score per model, with its gaps (one model: the whole breakdown)."""
    from oncall.integrations.prometheus import build_live_evidence
    from oncall.readiness import render, service

    settings = common.settings()
    live = build_live_evidence(settings)
    now = common.now()
    with common.session(settings) as session:
        readings = live.readings(now=now) if live is not None else None
        ids = [model] if model is not None else None
        if snapshot:
            scores = service.take_snapshots(session=session, now=now, live=live, model_ids=ids)
        else:
            scores = service.models_prs(session, now=now, live=live, model_ids=ids, team_id=team)
        if team is not None:
            scores = [s for s in scores if s.team_id == team]
    if as_json:
        common.emit_json(
            scores[0].to_dict() if model is not None else [s.to_dict() for s in scores]
        )
        return
    typer.echo(render.evidence_line(readings))
    typer.echo()
    lines = render.breakdown(scores[0]) if model is not None else render.table(scores)
    for line in lines:
        typer.echo(line)
    if snapshot:
        typer.echo()
        typer.echo(f"stored {len(scores)} snapshot(s) at {now:%Y-%m-%d %H:%M} UTC")
