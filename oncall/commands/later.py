"""Commands of capabilities still to come: listed in --help so the surface is visible."""

from __future__ import annotations

import typer

from oncall.commands import common

evidence_app = typer.Typer(help="Readiness evidence.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(prs)
    app.command()(insights)
    app.command()(gpu)
    app.add_typer(evidence_app, name="evidence")


def prs(
    model: str | None = typer.Argument(None, help="Model id (default: all)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Production Readiness Score per model, with its gaps."""
    common.not_built("oncall prs")


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


@evidence_app.command()
def push() -> None:
    """Record readiness evidence for a model (e.g. from CI)."""
    common.not_built("oncall evidence push")
