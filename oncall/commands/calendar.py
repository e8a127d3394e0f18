"""`oncall calendar`: iCalendar export of final shifts and secret feed URLs."""

from __future__ import annotations

from pathlib import Path

import typer

from oncall.commands import common

calendar_app = typer.Typer(help="iCalendar export and feed tokens.", no_args_is_help=True)
token_app = typer.Typer(help="Secret feed URLs for calendar apps.", no_args_is_help=True)
calendar_app.add_typer(token_app, name="token")

JsonOption = common.JsonOption


def register(app: typer.Typer) -> None:
    app.add_typer(calendar_app, name="calendar")


@calendar_app.command("export")
def calendar_export(
    rotation: str | None = typer.Option(None, "--rotation", "-r", help="Rotation id."),
    person: str | None = typer.Option(
        None, "--person", "-p", help="Person id: their shifts across rotations."
    ),
    start: str | None = typer.Option(None, "--from", help="Date or time (default: 30 days ago)."),
    end: str | None = typer.Option(None, "--to", help="Date or time (default: in 180 days)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="File (default: stdout)."),
) -> None:
    """Write final shifts as an iCalendar (.ics) file.

    With both --rotation and --person: that person's shifts in that rotation.
    """
    from oncall.rotations.ical import export_person_ics, export_rotation_ics, feed_window

    if rotation is None and person is None:
        common.fail("name --rotation R or --person P")
    now = common.now()
    default_start, default_end = feed_window(now)
    begin = common.parse_when(start, field="--from", default=default_start)
    finish = common.parse_when(end, field="--to", default=default_end)
    if finish <= begin:
        common.fail(f"--to ({finish.isoformat()}) must be after --from ({begin.isoformat()})")
    with common.session() as session:
        if rotation is not None:
            data = export_rotation_ics(
                session=session,
                rotation_id=rotation,
                start=begin,
                end=finish,
                now=now,
                person_id=person,
            )
        else:
            assert person is not None
            data = export_person_ics(
                session=session, person_id=person, start=begin, end=finish, now=now
            )
    if output is None:
        typer.echo(data.decode(), nl=False)
    else:
        output.write_bytes(data)
        typer.echo(f"wrote {output}", err=True)


@token_app.command("create")
def token_create(
    rotation: str | None = typer.Option(None, "--rotation", "-r", help="A rotation's feed."),
    person: str | None = typer.Option(None, "--person", "-p", help="A person's feed."),
    as_json: bool = JsonOption,
) -> None:
    """Create a secret feed URL; the token is shown once and stored only as a hash."""
    from oncall.rotations.feeds import create_calendar_token, feed_url

    settings = common.settings()
    with common.session(settings) as session:
        row, token = create_calendar_token(
            session=session, now=common.now(), rotation_id=rotation, person_id=person
        )
    url = feed_url(settings.public_url, token)
    if as_json:
        common.emit_json(
            {
                "id": row.id,
                "rotation_id": row.rotation_id,
                "person_id": row.person_id,
                "token": token,
                "url": url,
            }
        )
        return
    typer.echo(
        f"token {row.id} for {'rotation ' + str(rotation) if rotation else 'person ' + str(person)}"
    )
    typer.echo(f"token: {token}")
    typer.echo(f"feed:  {url}")
    typer.echo("Keep it secret: anyone with the URL can read the feed. Shown only once.")


@token_app.command("revoke")
def token_revoke(token_id: int = typer.Argument(..., help="Token id (see `token list`).")) -> None:
    """Revoke a feed token: its URL answers 404 from now on."""
    from oncall.rotations.feeds import revoke_calendar_token

    with common.session() as session:
        row = revoke_calendar_token(session=session, token_id=token_id, now=common.now())
    typer.echo(f"token {row.id} revoked")


@token_app.command("list")
def token_list(as_json: bool = JsonOption) -> None:
    """Feed tokens (without the secrets, which are not stored)."""
    from oncall.rotations.feeds import list_calendar_tokens

    with common.session() as session:
        rows = list_calendar_tokens(session=session)
    items = [
        {
            "id": r.id,
            "rotation_id": r.rotation_id,
            "person_id": r.person_id,
            "created_at": r.created_at.isoformat(),
            "created_by": r.created_by,
            "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
        }
        for r in rows
    ]
    if as_json:
        common.emit_json(items)
        return
    if not items:
        typer.echo("no calendar tokens")
    for item in items:
        target = (
            f"rotation {item['rotation_id']}"
            if item["rotation_id"]
            else f"person {item['person_id']}"
        )
        state = f"revoked {item['revoked_at']}" if item["revoked_at"] else "active"
        typer.echo(f"{item['id']:>4}  {target:<28} created {item['created_at']}  {state}")
