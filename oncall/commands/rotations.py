"""`oncall who`, `schedule`, `override`, `swap`, `calendar`: rotations from the command line."""

from __future__ import annotations

import typer

from oncall.commands import common

override_app = typer.Typer(
    help="Overrides: someone covers a rotation for a time range.", no_args_is_help=True
)
swap_app = typer.Typer(help="Swaps: hand a shift to someone else.", no_args_is_help=True)
calendar_app = typer.Typer(help="iCalendar export and feed tokens.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(who)
    app.command()(schedule)
    app.add_typer(override_app, name="override")
    app.add_typer(swap_app, name="swap")
    app.add_typer(calendar_app, name="calendar")


def who(
    rotation: str | None = typer.Option(
        None, "--rotation", "-r", help="Rotation id (default: all)."
    ),
    at: str | None = typer.Option(None, "--at", help="ISO 8601 time (default: now)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Who is on call now (or --at a time)."""
    common.not_built("oncall who")


def schedule(
    rotation: str = typer.Argument(..., help="Rotation id."),
    days: int = typer.Option(14, "--days"),
    fairness: bool = typer.Option(False, "--fairness"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The final shifts of a rotation for the next N days."""
    common.not_built("oncall schedule")
