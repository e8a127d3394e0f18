"""Database engine and sessions: SQLite by default (WAL, busy timeout), PostgreSQL by URL."""

from __future__ import annotations

import importlib.util
import re
import sqlite3
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, overload

import orjson
from sqlalchemy import JSON, DateTime, Enum, String, Table, event, insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine

SQLITE_BUSY_TIMEOUT_MS = 5000


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = require_aware(value).astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def require_aware(value: datetime) -> datetime:
    """Every stored timestamp is timezone-aware: a naive one is a bug, refused at the write."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: store timezone-aware UTC values")
    return value


class MissingDriver(RuntimeError):
    """The database URL names a database whose Python driver is not installed."""


def dump_json(value: Any) -> str:
    """JSON text for JSON columns: orjson is ~10x faster than json.dumps on alert labels."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Build an engine; SQLite gets WAL, a busy timeout and foreign keys on every connection."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("postgresql+psycopg") and importlib.util.find_spec("psycopg") is None:
        raise MissingDriver(
            "PostgreSQL needs its driver: pip install 'ds-oncall[postgres]' (psycopg)"
        )
    kwargs: dict[str, Any] = {"echo": echo, "json_serializer": dump_json}
    if is_sqlite(url):
        kwargs["connect_args"] = {
            "check_same_thread": False,
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
        }
        _ensure_sqlite_parent(url)
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if is_sqlite(url):
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "checkin", _sqlite_on_checkin)
    return engine


def _ensure_sqlite_parent(url: str) -> None:
    path = url.split(":///", 1)[-1] if ":///" in url else ""
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_SHORT_BUSY_TIMEOUT = "oncall_short_busy_timeout"


def _sqlite_on_checkin(dbapi_connection: Any, record: Any) -> None:
    # Still owned by the thread that used it: put back the normal wait for the write lock.
    if dbapi_connection is not None and record.info.pop(_SHORT_BUSY_TIMEOUT, False):
        dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def wait_briefly_for_write_lock(session: Session, milliseconds: int) -> None:
    """SQLite: wait at most `milliseconds` for another writer in this transaction (then
    `is_database_busy` is true of the error); the connection gets its normal busy timeout back
    when it returns to the pool. PostgreSQL: nothing changes."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    fairy = connection.connection
    fairy.driver_connection.execute(f"PRAGMA busy_timeout={int(milliseconds)}")  # type: ignore[union-attr]
    fairy.info[_SHORT_BUSY_TIMEOUT] = True


def is_database_busy(error: OperationalError) -> bool:
    """SQLite gave up waiting for another writer's lock ("database is locked")."""
    return getattr(error.orig, "sqlite_errorname", None) in ("SQLITE_BUSY", "SQLITE_LOCKED")


_WRITE_LOCKS: dict[int, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def write_lock(engine: Engine) -> threading.Lock | None:
    """SQLite has one writer at a time: this process's writers queue on this lock instead of
    in SQLite's busy handler, which sleeps in steps of up to 100 ms. PostgreSQL: None."""
    if engine.dialect.name != "sqlite":
        return None
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(id(engine), threading.Lock())


def serialized_writes(engine: Engine) -> AbstractContextManager[object]:
    """Hold `write_lock(engine)` (SQLite), or nothing (PostgreSQL)."""
    return write_lock(engine) or nullcontext()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error, always close."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@lru_cache(maxsize=256)
def sqlite_timestamp(value: datetime) -> str:
    """A UTC timestamp as UTCDateTime writes it to SQLite (DATETIME text). Remembered: one
    transaction writes the same few instants into many columns (its `now` above all)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class RowInserter:
    """INSERT one row of `table` on the hot path (ingest, outbox, timeline).

    On SQLite the statement goes straight to the driver's cursor, inside the connection's
    transaction, with its values written as the column types write them (JSON text, DATETIME
    text): SQLAlchemy's per-statement work costs several times the INSERT there. Driver errors
    are raised as SQLAlchemy's (an IntegrityError, a busy database's OperationalError), as any
    other statement's. On PostgreSQL it is the ordinary Core statement (a round trip
    dominates). `ignore_conflicts`: a row that would break a unique constraint is dropped
    (ON CONFLICT DO NOTHING). The tests read every such row back through the ORM on both
    databases."""

    def __init__(self, table: Table, *, ignore_conflicts: bool = False) -> None:
        self.table = table
        self.columns = [c for c in table.columns if c is not table.autoincrement_column]
        self.core: Any = insert(table)
        if ignore_conflicts:
            self.core = postgresql.insert(table).on_conflict_do_nothing()
        names = ", ".join(c.name for c in self.columns)
        marks = ", ".join("?" for _ in self.columns)
        self.sql = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"
        if ignore_conflicts:
            self.sql += " ON CONFLICT DO NOTHING"
        self.writers = [_sqlite_writer(c) for c in self.columns]
        self.keys = [c.key for c in self.columns]
        self.key_set = frozenset(self.keys)

    def __call__(self, connection: Connection, values: dict[str, Any]) -> int | None:
        """Insert; return the new row's integer primary key (None if none, or dropped)."""
        if connection.dialect.name != "sqlite":
            result = connection.execute(
                self.core, {k: v for k, v in values.items() if k in self.key_set}
            )
            key = result.inserted_primary_key if result.rowcount else None
            return int(key[0]) if key and key[0] is not None else None
        get = values.get
        row = tuple(
            get(key) if write is None else write(get(key))
            for key, write in zip(self.keys, self.writers, strict=True)
        )
        cursor = driver_execute(connection, self.sql, row)
        return int(cursor.lastrowid) if cursor.rowcount and cursor.lastrowid else None


def driver_execute(connection: Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    """Run one statement on SQLite's own cursor, in `connection`'s transaction (pysqlite opens
    it before the first write, as it does for SQLAlchemy's statements); the cursor is
    returned. Driver errors are raised as SQLAlchemy's."""
    driver = connection.connection.driver_connection
    try:
        return driver.execute(sql, params)  # type: ignore[union-attr]
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc


def driver_executemany(connection: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """`driver_execute` for many rows of one statement."""
    driver = connection.connection.driver_connection
    try:
        driver.executemany(sql, rows)  # type: ignore[union-attr]
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc


# One ingest writes the same `now` in many columns of several rows: the last one is remembered
# (value and text in one tuple, replaced at once: threads share it).
_last_timestamp: tuple[Any, str] = (None, "")


def _timestamp_text(value: Any) -> str | None:
    global _last_timestamp
    if value is None:
        return None
    seen, text = _last_timestamp
    if value is not seen:
        text = sqlite_timestamp(require_aware(value))
        _last_timestamp = (value, text)
    return text


def _sqlite_writer(column: Any) -> Callable[[Any], Any] | None:
    if isinstance(column.type, UTCDateTime):
        return _timestamp_text
    if isinstance(column.type, JSON):
        return dump_json
    if isinstance(column.type, Enum | String):
        return lambda v: None if v is None else str(v)
    return None


@overload
def read_sqlite_timestamp(text: str) -> datetime: ...
@overload
def read_sqlite_timestamp(text: None) -> None: ...
@overload
def read_sqlite_timestamp(text: str | None) -> datetime | None: ...
def read_sqlite_timestamp(text: str | None) -> datetime | None:
    """A timestamp column as SQLite holds it (UTCDateTime's text), read back aware in UTC."""
    if text is None:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def read_json_text(text: str | None) -> Any:
    """A JSON column as SQLite holds it (text), read back."""
    return None if text is None else orjson.loads(text)


class _CompiledOnce:
    """A Core statement compiled once for SQLite, run on the driver's cursor with its named
    parameters in order (datetimes written as UTCDateTime writes them). `indexed_by` (table,
    index) pins the index SQLite reads that table by (`INDEXED BY`: an error, not a slow plan,
    if the index is missing)."""

    def __init__(self, statement: Any, indexed_by: tuple[str, str] | None = None) -> None:
        compiled = statement.compile(dialect=sqlite_dialect())
        self.sql = compiled.string
        if indexed_by is not None:
            table, index = indexed_by
            pinned = re.sub(
                rf"\bFROM {re.escape(table)}\b(?! AS)",
                f"FROM {table} INDEXED BY {index}",
                self.sql,
                count=1,
            )
            if pinned == self.sql:
                raise ValueError(f"no FROM {table} in {self.sql!r}")
            self.sql = pinned
        self.names = list(compiled.positiontup or ())
        self.defaults = dict(compiled.params)

    def execute(self, connection: Connection, params: dict[str, Any]) -> Any:
        values = {**self.defaults, **params}
        args = [
            sqlite_timestamp(require_aware(v)) if isinstance(v, datetime) else v
            for v in (values[name] for name in self.names)
        ]
        return driver_execute(connection, self.sql, args)


class DriverQuery:
    """A hot SELECT of plain columns (ingest): on SQLite compiled once and run on the driver's
    cursor, each column as stored unless `readers` names how to read it (JSON text, UTC
    timestamps); on PostgreSQL the Core statement. Rows have the statement's column names as
    attributes, either way. Datetime parameters are written as UTCDateTime writes them."""

    def __init__(
        self,
        statement: Any,
        readers: dict[str, Callable[[Any], Any]] | None = None,
        *,
        indexed_by: tuple[str, str] | None = None,
    ) -> None:
        self.compiled = _CompiledOnce(statement, indexed_by)
        self.statement = statement
        keys = [column.key for column in statement.selected_columns]
        self.row: Any = namedtuple("Row", keys)  # type: ignore[misc]
        readers = readers or {}
        self.readers = [readers.get(key) for key in keys]
        self.plain = not any(self.readers)

    def rows(self, connection: Connection, params: dict[str, Any] | None = None) -> list[Any]:
        if connection.dialect.name != "sqlite":
            return list(connection.execute(self.statement, params or {}))
        fetched = self.compiled.execute(connection, params or {}).fetchall()
        make = self.row._make
        if self.plain:
            return [make(r) for r in fetched]
        readers = self.readers
        return [
            make(v if read is None else read(v) for v, read in zip(r, readers, strict=True))
            for r in fetched
        ]

    def first(self, connection: Connection, params: dict[str, Any] | None = None) -> Any:
        rows = self.rows(connection, params)
        return rows[0] if rows else None


class DriverStatement:
    """A hot INSERT, UPDATE or DELETE with bound parameters (ingest): on SQLite compiled once
    and run on the driver's cursor, as `DriverQuery` runs a SELECT; on PostgreSQL the Core
    statement."""

    def __init__(self, statement: Any) -> None:
        self.compiled = _CompiledOnce(statement)
        self.statement = statement

    def run(self, connection: Connection, params: dict[str, Any]) -> int:
        """Execute; return how many rows it touched."""
        if connection.dialect.name != "sqlite":
            return int(connection.execute(self.statement, params).rowcount)
        return int(self.compiled.execute(connection, params).rowcount)
