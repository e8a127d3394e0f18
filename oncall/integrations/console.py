"""The console channel: side effects written to the log instead of sent (no credentials, demo)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlmodel import Session

from oncall.outbox import OutboxMessage

log = logging.getLogger("oncall.console")

Printer = Callable[[str], None]


def describe(message: OutboxMessage) -> str:
    body = json.dumps(message.payload, ensure_ascii=False, sort_keys=True)
    if len(body) > 600:
        body = body[:600] + "…"
    return f"[{message.channel} → console] {message.kind} incident={message.incident_id} {body}"


def console_handler(
    printer: Printer | None = None,
) -> Callable[[Session, OutboxMessage], Mapping[str, Any]]:
    def deliver(_session: Session, message: OutboxMessage) -> Mapping[str, Any]:
        text = describe(message)
        if printer is not None:
            printer(text)
        else:
            log.info("%s", text)
        message.delivered_via = "console"
        return {"console": True}

    return deliver
