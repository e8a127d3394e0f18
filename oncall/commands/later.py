"""Commands of capabilities still to come: listed in --help so the surface is visible."""

from __future__ import annotations

import typer

from oncall.commands import common

rca_app = typer.Typer(help="Root-cause analysis documents.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(insights)
    app.command()(gpu)
    app.add_typer(rca_app, name="rca")


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


@rca_app.command()
def generate(
    incident_id: int = typer.Argument(...),
    output: str | None = typer.Option(None, "-o", "--output"),
) -> None:
    """Write the RCA document of an incident as Markdown."""
    common.not_built("oncall rca generate")
