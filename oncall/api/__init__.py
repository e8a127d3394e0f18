"""HTTP routers: thin, they parse, call one service function and render."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from oncall.api import (
        calendar,
        dashboard,
        health,
        incidents,
        pages,
        rotations,
        runbooks,
        slack,
        webhook,
    )

    return [
        health.router,
        webhook.router,
        incidents.router,
        rotations.router,
        calendar.router,
        runbooks.router,
        dashboard.router,
        pages.router,
        slack.router,
    ]
