"""What every command shares: settings, the database, output as text or JSON, clear failures."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NoReturn

import typer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from oncall.config import Settings


def settings() -> Settings:
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        lines = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
        fail("invalid environment:\n  " + "\n  ".join(lines))


JsonOption = typer.Option(False, "--json", help="Print JSON.")


@contextmanager
def domain_errors() -> Iterator[None]:
    """A refused request (oncall.errors) as `error: <reason>` and exit code 1, no traceback.

    The root command (`oncall.cli`) runs every sub-command inside it."""
    from oncall.errors import DomainError

    try:
        yield
    except DomainError as exc:
        fail(str(exc))


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def engine(s: Settings | None = None, *, migrated: bool = True) -> Engine:
    """The database engine; by default refuses a database whose schema is not at head."""
    from sqlalchemy.exc import SQLAlchemyError

    from oncall import migrate
    from oncall.db import MissingDriver, make_engine

    s = s or settings()
    try:
        eng = make_engine(s.database_url)
    except MissingDriver as exc:
        fail(str(exc))
    if migrated:
        try:
            current = migrate.current_revision(eng)
        except SQLAlchemyError as exc:
            fail(f"cannot reach the database ({safe_url(s.database_url)}): {type(exc).__name__}")
        head = migrate.head_revision()
        if current != head:
            fail(
                f"the database ({safe_url(s.database_url)}) is at migration {current or 'none'}, "
                f"not {head}: run `oncall db upgrade` first"
            )
    return eng


@contextmanager
def session(s: Settings | None = None) -> Iterator[Session]:
    from oncall.db import session_scope

    eng = engine(s)
    try:
        with session_scope(eng) as sess:
            yield sess
    finally:
        eng.dispose()


def safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def now() -> datetime:
    return datetime.now(UTC)


def parse_when(value: str | None, *, field: str, default: datetime | None = None) -> datetime:
    """An ISO 8601 time from the command line; a time without offset is UTC."""
    if value is None:
        return default or now()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(
            f"{field}: {value!r} is not an ISO 8601 time "
            "(e.g. 2026-03-08T10:00 or 2026-03-08T10:00-05:00)"
        )
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")


def not_built(what: str) -> NoReturn:
    fail(f"{what} is not available in this version yet", code=2)
