"""HTTP routers: thin, they parse, call one service function and render."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from oncall.api import (
        calendar,
        dashboard,
        health,
        incidents,
        pagerduty,
        pages,
        rca,
        readiness,
        rotations,
        runbooks,
        slack,
        webhook,
    )

    # Routes are tried in this order on every request: Slack's (answered within Slack's 3 s,
    # and the busiest interactive path) first, so its requests skip matching all the others.
    return [
        slack.router,
        health.router,
        webhook.router,
        incidents.router,
        pagerduty.router,
        readiness.router,
        rca.router,
        rotations.router,
        calendar.router,
        runbooks.router,
        dashboard.router,
        pages.router,
    ]
