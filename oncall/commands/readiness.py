"""`oncall prs` (Production Readiness Score per model, with its gaps) and `oncall evidence push`."""

from __future__ import annotations

import typer

from oncall.commands import common

evidence_app = typer.Typer(help="Readiness evidence pushed from CI.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(prs)
    app.add_typer(evidence_app, name="evidence")


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


@evidence_app.command()
def push(
    model: str = typer.Argument(..., help="Model id."),
    check: str = typer.Argument(..., help="testing.unit, testing.integration or data.validation."),
    result: str = typer.Argument(..., help="passed or failed."),
    commit: str | None = typer.Option(None, "--commit", help="The commit that was tested."),
    at: str | None = typer.Option(None, "--at", help="When it ran, ISO 8601 (default: now)."),
    detail: str | None = typer.Option(None, "--detail", help="One line, e.g. '412 passed'."),
    by: str = typer.Option("cli", "--by", help="Person id recorded as the actor."),
    as_json: bool = common.JsonOption,
) -> None:
    """Record a run of a model's tests or data checks (e.g. from CI); the latest one counts."""
    from oncall.actors import check_actor
    from oncall.readiness import service

    now = common.now()
    ran_at = common.parse_when(at, field="--at", default=now)
    with common.session() as session:
        actor = check_actor(session=session, by=by)
        service.record_run(
            session,
            model_id=model,
            check_id=check,
            result=result,
            now=now,
            by=actor,
            ran_at=ran_at,
            commit=commit,
            detail=detail,
        )
        session.flush()
        found = service.model_prs(session, model, now=now)
    scored = next(c for c in found.checks if c.id == check)
    if as_json:
        common.emit_json({"check": scored.to_dict(), "percent": found.percent})
        return
    typer.echo(
        f"recorded: {model} {check} {result}; the check is now {scored.status} "
        f"({scored.evidence.detail}); PRS {found.percent if found.percent is not None else '-'}%"
    )
