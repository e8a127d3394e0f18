"""`oncall rca`: generate, list and complete RCA documents and their action items."""

from __future__ import annotations

from pathlib import Path

import typer

from oncall.commands import common

app = typer.Typer(help="Root-cause analysis documents.", no_args_is_help=True)
action_app = typer.Typer(help="An RCA's action items.", no_args_is_help=True)
app.add_typer(action_app, name="action")


@app.command()
def generate(
    incident_id: int = typer.Argument(...),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write it to this file."),
) -> None:
    """Draft (or refresh) the RCA of an incident and print it as Markdown.

    Refreshing keeps the root cause, the completed sections and the action items' status."""
    from oncall.rca import service

    settings = common.settings()
    with common.session(settings) as session:
        result = service.generate(
            session=session,
            incident_id=incident_id,
            now=common.now(),
            public_url=settings.public_url,
        )
        markdown = result.document.markdown
    if output is None:
        typer.echo(markdown, nl=False)
        return
    try:
        output.write_text(markdown, encoding="utf-8")
    except OSError as exc:
        common.fail(f"-o: cannot write {output}: {exc.strerror or exc}")
    what = "drafted" if result.created else "refreshed"
    typer.echo(f"RCA of incident #{incident_id} {what}: {output}")


@app.command("list")
def list_(
    overdue: bool = typer.Option(False, "--overdue", help="Only RCAs with overdue action items."),
    status: str | None = typer.Option(None, "--status", help="draft, in_review or done."),
    as_json: bool = common.JsonOption,
) -> None:
    """RCA documents, newest first, with their action items."""
    from oncall.rca import service

    now = common.now()
    with common.session() as session:
        documents = service.list_documents(session=session, now=now, overdue=overdue, status=status)
        views = [service.public(session, d, now) for d in documents]
    if as_json:
        common.emit_json([v.model_dump(mode="json") for v in views])
        return
    if not views:
        typer.echo("no RCAs with overdue action items" if overdue else "no RCAs")
        return
    for view in views:
        open_items = [i for i in view.action_items if i.status == "open"]
        late = [i for i in open_items if i.overdue]
        about = view.model_id or view.team_id or "-"
        typer.echo(
            f"#{view.incident_id:<5} {view.status:<10} {about:<14} "
            f"{len(open_items)} open, {len(late)} overdue of {len(view.action_items)} item(s)  "
            f"{view.url}"
        )
        for item in view.action_items if overdue else []:
            if item.overdue:
                typer.echo(
                    f"       {item.number}. {item.title[:90]} "
                    f"(owner {item.owner or '-'}, due {item.due_at:%Y-%m-%d})"
                )


@app.command()
def done(
    incident_id: int = typer.Argument(...),
    root_cause: str | None = typer.Option(
        None, "--root-cause", help="The root cause, if not written yet."
    ),
) -> None:
    """Mark the RCA done (its root cause must be written)."""
    from oncall.rca import service

    with common.session() as session:
        service.set_status(
            session=session,
            incident_id=incident_id,
            status="done",
            now=common.now(),
            root_cause=root_cause,
        )
    typer.echo(f"RCA of incident #{incident_id} is done")


@action_app.command("done")
def action_done(incident_id: int = typer.Argument(...), number: int = typer.Argument(...)) -> None:
    """Close action item N of an incident's RCA."""
    from oncall.rca import service

    with common.session() as session:
        item = service.action_done(
            session=session, incident_id=incident_id, number=number, now=common.now()
        )
        title = item.title
    typer.echo(f"RCA #{incident_id} action {number} done: {title}")
