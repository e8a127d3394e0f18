"""`oncall config`: validate and load oncall.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from oncall.commands import common

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from oncall.catalog.schema import CatalogSpec

app = typer.Typer(help="The catalog file (oncall.yaml).", no_args_is_help=True)

FileArg = typer.Argument(
    None, help="Path to oncall.yaml (default: $ONCALL_CONFIG).", dir_okay=False, show_default=False
)


def _file(file: Path | None) -> Path:
    if file is not None:
        return file
    configured = common.settings().config
    if configured is None:
        common.fail("name the catalog file, or set ONCALL_CONFIG to its path")
    return configured


def _load(file: Path) -> CatalogSpec:
    from oncall.catalog.loader import InvalidConfig, load_catalog

    try:
        return load_catalog(file)
    except InvalidConfig as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        n = len(exc.problems)
        common.fail(f"{file}: {n} problem{'s' if n != 1 else ''}; nothing was applied")


def _warnings(spec: CatalogSpec, file: Path) -> list[str]:
    """The file's warnings, with its swaps checked against the configured database if any."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlmodel import Session

    from oncall.rotations.catalog_checks import catalog_warnings

    now = common.now()
    engine = _configured_database()
    if engine is not None:
        try:
            with Session(engine) as session:
                return catalog_warnings(spec=spec, source=str(file), now=now, session=session)
        except SQLAlchemyError:
            pass  # a database that fails to answer does not stop the file from being checked
        finally:
            engine.dispose()
    return catalog_warnings(spec=spec, source=str(file), now=now, session=None)


def _routing_key_warnings(spec: CatalogSpec, file: Path) -> list[str]:
    """Teams whose `${NAME}` routing key variable is unset where the check runs."""
    from oncall.catalog.routing_keys import unset_variable_warnings

    text = file.read_text(encoding="utf-8")
    return unset_variable_warnings(spec=spec, text=text, source=str(file))


def _configured_database() -> Engine | None:
    """The database ONCALL_DATABASE_URL names, when it exists and is at the latest migration:
    `config check` works without one and never creates one."""
    from sqlalchemy.exc import SQLAlchemyError

    from oncall import migrate
    from oncall.config import Settings
    from oncall.db import is_sqlite, make_engine

    try:
        url = Settings().database_url
    except ValueError:  # an invalid environment: check the file alone
        return None
    if is_sqlite(url):
        path = url.split(":///", 1)[-1] if ":///" in url else ""
        if not path or path == ":memory:" or not Path(path).expanduser().exists():
            return None  # never create a database file just to check a catalog
    engine = make_engine(url)
    try:
        at_head = migrate.is_at_head(engine)
    except SQLAlchemyError:
        at_head = False
    if not at_head:
        engine.dispose()
        return None
    return engine


@app.command()
def check(file: Path | None = FileArg, as_json: bool = typer.Option(False, "--json")) -> None:
    """Validate the file: every error with its line and field, exit code 1 if any."""
    file = _file(file)
    spec = _load(file)
    warnings = _warnings(spec, file) + _routing_key_warnings(spec, file)
    summary = {
        "file": str(file),
        "valid": True,
        "teams": len(spec.teams),
        "people": len(spec.people),
        "rotations": len(spec.rotations),
        "escalation_policies": len(spec.escalation_policies),
        "models": len(spec.models),
        "routes": len(spec.routes),
        "warnings": warnings,
    }
    if as_json:
        common.emit_json(summary)
        return
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(
        f"{file}: ok ({summary['teams']} teams, {summary['people']} people, "
        f"{summary['rotations']} rotations, {summary['escalation_policies']} escalation policies, "
        f"{summary['models']} models, {summary['routes']} routes)"
    )


@app.command()
def apply(file: Path | None = FileArg, as_json: bool = typer.Option(False, "--json")) -> None:
    """Load the file into the database in one transaction (idempotent); print what changed."""
    file = _file(file)
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from oncall.catalog.models import Rotation
    from oncall.catalog.service import apply_catalog
    from oncall.rotations.swaps import describe_swap, stale_swaps

    spec = _load(file)
    now = common.now()
    broken: list[str] = []
    try:
        with common.session() as session:
            report = apply_catalog(session=session, spec=spec, now=now, source=str(file))
            if not report.is_empty:
                session.flush()
                # A swap is never moved or dropped by an edit; if it no longer fits, say so
                # and name both people so that they can agree on another one.
                for stale in stale_swaps(session=session, now=now):
                    swap = stale.swap
                    rotation = session.get(Rotation, swap.rotation_id)
                    timezone = rotation.timezone if rotation else None
                    broken.append(
                        f"{describe_swap(swap, timezone)} no longer applies: {stale.problem} "
                        f"(tell {swap.from_person_id} and {swap.to_person_id})"
                    )
    except SQLAlchemyError as exc:  # rolled back: say why, without a traceback
        reason = str(exc.orig if isinstance(exc, DBAPIError) else exc).splitlines()[0]
        common.fail(f"{file}: the database refused the changes ({reason}); nothing was applied")
    if as_json:
        common.emit_json(
            {
                "file": str(file),
                "created": report.created,
                "changed": report.changed,
                "restored": report.restored,
                "retired": report.retired,
                "swaps_no_longer_applying": broken,
            }
        )
        return
    if report.is_empty:
        typer.echo(f"{file}: no change")
        return
    for line in report.changes:
        typer.echo(line)
    for line in broken:
        typer.echo(f"warning: {line}", err=True)
    typer.echo(
        f"{file}: {len(report.changes)} change{'s' if len(report.changes) != 1 else ''} applied"
    )
