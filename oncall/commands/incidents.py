"""`oncall incidents`: list, show, acknowledge, resolve, escalate."""

from __future__ import annotations

import typer

from oncall.commands import common

app = typer.Typer(help="Incidents from Alertmanager alerts.", no_args_is_help=True)


@app.command("list")
def list_(
    status: str | None = typer.Option(None, "--status", help="triggered, acknowledged or resolved."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List incidents, newest first."""
    common.not_built("oncall incidents list")
