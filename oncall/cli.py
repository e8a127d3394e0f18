"""The `oncall` command. Sub-commands import what they need only when they run (fast start)."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from oncall import __version__
from oncall.commands import calendar, common, later, readiness, rotations
from oncall.commands import config as config_cmd
from oncall.commands import db as db_cmd
from oncall.commands import incidents as incidents_cmd
from oncall.commands import outbox as outbox_cmd
from oncall.commands import rca as rca_cmd

if TYPE_CHECKING:
    from oncall.config import Settings


class _Oncall(TyperGroup):
    """The root command: every sub-command runs inside the one mapping of domain errors."""

    def invoke(self, ctx: Any) -> Any:  # Any: typer's own (vendored) click Context
        with common.domain_errors():
            return super().invoke(ctx)


app = typer.Typer(
    cls=_Oncall,
    name="oncall",
    help="On-call rotations, incidents, readiness scores and RCAs for data-science teams.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_cmd.app, name="db")
app.add_typer(config_cmd.app, name="config")
app.add_typer(incidents_cmd.app, name="incidents")
app.add_typer(outbox_cmd.app, name="outbox")
app.add_typer(rca_cmd.app, name="rca")
rotations.register(app)
calendar.register(app)
readiness.register(app)
later.register(app)


def _apply_configured_catalog(settings: Settings) -> None:
    """ONCALL_CONFIG: apply the catalog at start-up (idempotent); refuse to start on a bad file."""
    from sqlalchemy.exc import IntegrityError

    from oncall.catalog.loader import InvalidConfig, load_catalog
    from oncall.catalog.service import apply_catalog
    from oncall.commands import common

    assert settings.config is not None
    try:
        spec = load_catalog(settings.config)
    except InvalidConfig as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        common.fail(f"ONCALL_CONFIG={settings.config} is not valid; not starting")
    try:
        with common.session(settings) as session:
            report = apply_catalog(
                session=session, spec=spec, now=common.now(), source=str(settings.config)
            )
    except IntegrityError:
        # Another replica applied the same file at the same moment: its result stands.
        logging.getLogger(__name__).warning("catalog applied concurrently by another replica")
        return
    for line in report.changes:
        logging.getLogger(__name__).info("catalog %s: %s", settings.config, line)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"oncall {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug details."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("apscheduler", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind (the container passes 0.0.0.0)."),
    port: int = typer.Option(8080, help="Port to listen on."),
) -> None:
    """Run the web service, the Slack endpoint, the scheduler and the outbox worker."""
    import uvicorn

    from oncall.app import create_app
    from oncall.commands import common

    settings = common.settings()
    if settings.config is not None:
        _apply_configured_catalog(settings)
    # Uvicorn re-raises SIGTERM once its graceful shutdown is done; with the default handler the
    # process would then die "killed by SIGTERM" (exit 143) instead of exiting 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    # Uvicorn handles SIGTERM and SIGINT: it stops accepting, finishes requests in flight,
    # then runs the app's shutdown (scheduler jobs finish, nothing is cut mid-transaction).
    from oncall.db import MissingDriver

    try:
        app_ = create_app(settings)
    except MissingDriver as exc:
        common.fail(str(exc))
    uvicorn.run(
        app_,
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=20,
        proxy_headers=True,
    )


@app.command()
def demo(
    serve_after: bool = typer.Option(False, "--serve", help="Keep the dashboard up afterwards."),
    port: int = typer.Option(8080, help="Port for --serve."),
    output: str | None = typer.Option(None, "--output", "-o", help="Folder for the files written."),
) -> None:
    """Run the whole flow on embedded defaults: no credentials, no network."""
    from oncall.demo import run_demo

    run_demo(serve_after=serve_after, port=port, output=output)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
