"""`oncall db`: schema migrations."""

from __future__ import annotations

import typer

from oncall.commands import common

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply Alembic migrations up to head (safe to run again)."""
    from sqlalchemy.exc import SQLAlchemyError

    from oncall import migrate

    s = common.settings()
    eng = common.engine(s, migrated=False)
    try:
        before = migrate.current_revision(eng)
        migrate.upgrade(eng, revision)
        after = migrate.current_revision(eng)
    except SQLAlchemyError as exc:
        common.fail(f"migration failed on {common.safe_url(s.database_url)}: {exc}")
    finally:
        eng.dispose()
    if before == after:
        typer.echo(f"database {common.safe_url(s.database_url)} already at {after}")
    else:
        typer.echo(
            f"database {common.safe_url(s.database_url)} upgraded {before or 'empty'} -> {after}"
        )


@app.command()
def current() -> None:
    """Show the database's migration and the latest one."""
    from oncall import migrate

    s = common.settings()
    eng = common.engine(s, migrated=False)
    try:
        typer.echo(
            f"current: {migrate.current_revision(eng) or 'none'}  head: {migrate.head_revision()}"
        )
    finally:
        eng.dispose()
