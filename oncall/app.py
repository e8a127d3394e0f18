"""The FastAPI application: routers, the Slack endpoint, the scheduler and the outbox worker."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from oncall import __version__
from oncall.clock import Clock, system_clock
from oncall.config import Settings, get_settings
from oncall.db import make_engine
from oncall.errors import Conflict, DomainError, InvalidRequest, NotAllowed, UnknownEntity
from oncall.metrics import ServiceMetrics

log = logging.getLogger(__name__)

# Every domain refusal has one HTTP status; a subclass (UnknownIncident, InvalidTransition...)
# answers as the kind it is.
HTTP_STATUS: dict[type[DomainError], int] = {
    UnknownEntity: 404,
    InvalidRequest: 422,
    NotAllowed: 403,
    Conflict: 409,
}


def domain_error_response(exc: DomainError) -> JSONResponse:
    """The answer to a refused request: its status and the reason, `{"detail": reason}`.

    A 422 has the shape of FastAPI's own request-validation answers (a list of problems with
    their `loc`), so a client reads every 422 of the API the same way."""
    status = next((HTTP_STATUS[k] for k in type(exc).__mro__ if k in HTTP_STATUS), 400)
    if isinstance(exc, InvalidRequest):
        loc = ["body", exc.field] if exc.field else ["body"]
        problems = [{"loc": loc, "msg": str(exc), "type": "value_error"}]
        return JSONResponse({"detail": problems}, status_code=status)
    return JSONResponse({"detail": str(exc)}, status_code=status)


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    clock: Clock = system_clock,
    background: bool = True,
) -> FastAPI:
    """Build the app. `background=False` leaves the scheduler and outbox worker off (tests)."""
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from oncall.integrations.delivery import build_handlers
        from oncall.scheduler import Background

        # Start-up objects live as long as the process: keep them out of the garbage
        # collector's full passes, which otherwise pause large webhook requests.
        gc.collect()
        gc.freeze()
        work = None
        if background:
            work = Background(
                engine=engine,
                handlers=build_handlers(settings, engine=engine, clock=clock),
                clock=clock,
                metrics=app.state.metrics,
                max_age=settings.outbox_max_age,
                live=app.state.live,
                public_url=settings.public_url,
            )
            work.start()
        app.state.background = work
        socket_mode = None
        if background and app.state.slack_app is not None and settings.slack_app_token:
            from oncall.integrations.slack.socket import start_socket_mode

            socket_mode = start_socket_mode(app.state.slack_app, settings)
        try:
            yield
        finally:
            if socket_mode is not None:
                socket_mode.close()  # type: ignore[no-untyped-call]
            if work is not None:
                work.stop()
            log.info("oncall stopped")

    app = FastAPI(
        title="oncall",
        version=__version__,
        description="On-call rotations, incidents, readiness and RCAs for data-science teams.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.clock = clock
    app.state.metrics = ServiceMetrics(engine)
    from oncall.integrations.prometheus import build_live_evidence

    app.state.live = build_live_evidence(settings)  # PRS evidence; None without a Prometheus
    app.state.slack_app = None
    if settings.slack_bot_token is not None and settings.slack_signing_secret is not None:
        # Built once, here: Bolt verifies the token with auth.test as it is built.
        from oncall.integrations.slack.bot import build_slack_app

        app.state.slack_app = build_slack_app(settings, engine=engine, clock=clock)

    @app.exception_handler(OperationalError)
    async def _database_down(_request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", type(exc.orig).__name__ if exc.orig else exc)
        return JSONResponse(
            {"detail": "database unavailable; retry later"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(DomainError)
    async def _refused(_request: Request, exc: DomainError) -> JSONResponse:
        return domain_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    from oncall.api import routers

    for router in routers():
        app.include_router(router)
    return app
