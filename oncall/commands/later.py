"""Commands of capabilities still to come: listed in --help so the surface is visible."""

from __future__ import annotations

import typer

from oncall.commands import common


def register(app: typer.Typer) -> None:
    app.command()(insights)
    app.command()(gpu)


def insights(
    team: str | None = typer.Option(None, "--team"),
    weeks: int = typer.Option(8, "--weeks"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Reliability trends: PRS, pages per model, MTTA/MTTR, on-call load and fairness."""
    common.not_built("oncall insights")


def gpu(as_json: bool = typer.Option(False, "--json")) -> None:
    """GPU node health from DCGM exporter metrics in Prometheus."""
    common.not_built("oncall gpu")
