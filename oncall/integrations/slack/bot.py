"""The one Bolt app: built once at start-up from Settings, mounted at `POST /slack/events`
(or connected over Socket Mode), with every listener registered explicitly.

Mode, chosen by measurement (bench/bench_slack_commands.py): a sync `App` with
`process_before_response=True`. The ack function does the quick work (a lookup, one state
change in one transaction) and its `ack(...)` is the HTTP answer; anything that calls the Web
API (ephemeral replies after a button, `views.open`, DMs) runs in a lazy listener after the
answer has gone. Bolt's default sync mode instead polls for the ack from a worker thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from sqlalchemy import Table, func
from sqlalchemy import select as select_columns
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from oncall import links
from oncall.catalog.models import CatalogRevision, Person, Rotation
from oncall.clock import Clock
from oncall.config import Settings
from oncall.db import session_scope
from oncall.integrations.slack.client import web_client
from oncall.integrations.slack.text import person_mention

log = logging.getLogger(__name__)

CACHE_SECONDS = 60.0

_REVISIONS: Table = CatalogRevision.__table__  # type: ignore[attr-defined]
_ROTATIONS: Table = Rotation.__table__  # type: ignore[attr-defined]
_LATEST_REVISION = select_columns(func.max(_REVISIONS.c.id))
_ACTIVE_ROTATIONS = (
    select_columns(_ROTATIONS.c.id, _ROTATIONS.c.timezone)
    .where(_ROTATIONS.c.retired_at.is_(None))
    .order_by(_ROTATIONS.c.id)
)


class NotInCatalog(Exception):
    """A Slack user that no person of oncall.yaml names (`slack_user:`)."""

    def __init__(self, slack_user: str) -> None:
        self.slack_user = slack_user
        super().__init__(slack_user)


@dataclass
class Bot:
    """What every listener needs: the database, the clock, the settings, the Web API client."""

    engine: Engine
    clock: Clock
    settings: Settings
    client: WebClient
    # Slack user id -> person id and person id -> mention, kept a minute: every command
    # asks, and the catalog changes rarely (`config apply`, maybe in another process).
    _people: dict[str, tuple[float, str]] = field(default_factory=dict)
    _mentions: dict[str, tuple[float, str]] = field(default_factory=dict)
    # The active rotations (id, time zone) as of a catalog revision: `who` lists them on
    # every call, and they change only with `config apply` (a new revision).
    _rotations: tuple[int | None, list[tuple[str, str]]] | None = None
    # Work that calls the Web API after the answer has gone (views.open of a modal).
    _after: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="slack")
    )

    def after_answer(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        def run() -> None:
            try:
                fn(*args, **kwargs)
            except Exception:
                log.exception("Slack work after the answer failed")

        self._after.submit(run)

    def now(self) -> datetime:
        return self.clock()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with session_scope(self.engine) as session:
            yield session

    def person_id(self, session: Session, slack_user: str | None) -> str:
        """The catalog person behind a Slack user; NotInCatalog when there is none."""
        if not slack_user:
            raise NotInCatalog("")
        known = self._people.get(slack_user)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        person = session.exec(
            select(Person)
            .where(col(Person.slack_user) == slack_user)
            .where(col(Person.retired_at).is_(None))
        ).first()
        if person is None:
            raise NotInCatalog(slack_user)
        self._people[slack_user] = (time.monotonic() + CACHE_SECONDS, person.id)
        return person.id

    def rotations(self, session: Session) -> list[tuple[str, str]]:
        """(id, time zone) of every active rotation, read again only after a new catalog
        revision (one indexed max() instead of loading every rotation with its layers)."""
        connection = session.connection()
        revision = connection.execute(_LATEST_REVISION).scalar()
        cached = self._rotations
        if cached is not None and cached[0] == revision:
            return cached[1]
        rows = [(str(r.id), str(r.timezone)) for r in connection.execute(_ACTIVE_ROTATIONS)]
        self._rotations = (revision, rows)
        return rows

    def slack_user(self, session: Session, person_id: str | None) -> str | None:
        person = session.get(Person, person_id) if person_id else None
        return person.slack_user if person else None

    def mention(self, session: Session, person_id: str | None) -> str:
        """`<@U…>` for a person with a Slack user, else their name (or 'nobody'): see
        `text.person_mention`."""
        if person_id is None:
            return "nobody"
        known = self._mentions.get(person_id)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        person = session.get(Person, person_id)
        if person is None:
            return person_mention(None, person_id)
        mention = person_mention(person, person_id)
        self._mentions[person_id] = (time.monotonic() + CACHE_SECONDS, mention)
        return mention

    def incident_url(self, incident_id: int | None) -> str:
        return links.incident_url(self.settings, incident_id)


Register = Callable[[App, Bot], None]


def bolt_client(settings: Settings) -> WebClient:
    """`web_client(settings)` without an SSL context object: Bolt builds a client per request
    from this one and deep-copies requests for lazy listeners, and an SSL context cannot be
    copied. The default context honours SSL_CERT_FILE by itself (OpenSSL's default paths)."""
    base = web_client(settings)
    return WebClient(
        token=base.token, base_url=base.base_url, timeout=base.timeout, retry_handlers=[]
    )


def build_slack_app(
    settings: Settings, *, engine: Engine, clock: Clock, client: WebClient | None = None
) -> App:
    """The Bolt app with every listener. Bolt calls `auth.test` here (token verification)."""
    if settings.slack_signing_secret is None:
        raise ValueError("SLACK_SIGNING_SECRET is not set")
    from oncall.integrations.slack import buttons, commands, home, modals

    client = client or bolt_client(settings)
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        process_before_response=True,
        logger=logging.getLogger("oncall.slack.bolt"),
    )
    bot = Bot(engine=engine, clock=clock, settings=settings, client=client)
    # No global middleware: each one costs every request (commands included) a call with
    # Bolt's argument injection; event listeners take `drop_repeated_events` themselves.
    for register in (commands.register, buttons.register, modals.register, home.register):
        register(app, bot)
    app.error(_log_unhandled)
    return app


def drop_repeated_events(bot: Bot) -> Callable[..., BoltResponse | None]:
    """An event Slack delivers again (its retry after a slow answer) is acted on once: the
    middleware of every event listener (`app.event(..., middleware=[...])`)."""
    from oncall.integrations.slack import seen

    def middleware(body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            with bot.transaction() as session:
                first = seen.first_time(session=session, key=f"event:{event_id}", now=bot.now())
            if not first:
                return BoltResponse(status=200, body="")
        next()
        return None

    return middleware


def _log_unhandled(error: Exception, body: dict[str, Any]) -> None:
    # Listeners answer their own refusals; what reaches here is a bug: log it, show nothing.
    log.error("Slack listener failed (%s): %s", body.get("type"), error, exc_info=error)
