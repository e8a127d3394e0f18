"""A local HTTPS PagerDuty Events API v2 (`POST /v2/enqueue`) that checks events as PagerDuty
does and records them, with trustme certificates; and signing for PagerDuty's v3 webhooks.

Used by the tests (in-process and against `oncall serve` subprocesses) and by the page-latency
benchmark. `SSL_CERT_FILE` must point at `ca_file` for oncall to trust it."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
ROUTING_KEY = "R0UT1NGKEY0F32CHARACTERSXXXXXXXX"  # 32 characters, like an integration key
assert len(ROUTING_KEY) == 32


@dataclass
class Received:
    """One request the stub answered: the event, the answer's status, when it arrived."""

    event: dict[str, Any]
    status: int
    at: float  # time.monotonic() in the stub's process
    errors: list[str] = field(default_factory=list)

    @property
    def action(self) -> str:
        return str(self.event.get("event_action"))

    @property
    def dedup_key(self) -> str | None:
        key = self.event.get("dedup_key")
        return key if isinstance(key, str) else None


def validate(event: Any) -> list[str]:
    """What PagerDuty's Events API v2 refuses with 400 (the checks it documents)."""
    if not isinstance(event, dict):
        return ["Event object is invalid"]
    errors: list[str] = []
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of trigger, acknowledge, resolve)")
    if action in ("acknowledge", "resolve") and not event.get("dedup_key"):
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or not an object")
        else:
            for name in ("summary", "source", "severity"):
                if not isinstance(payload.get(name), str) or not payload[name]:
                    errors.append(f"'payload.{name}' is missing or blank")
            if payload.get("severity") not in SEVERITIES:
                errors.append("'payload.severity' is invalid")
            if len(str(payload.get("summary", ""))) > 1024:
                errors.append("'payload.summary' is longer than 1024 characters")
    return errors


class PagerDutyStub:
    """`with PagerDutyStub(folder) as stub:` serves https://127.0.0.1:<port>/v2/enqueue."""

    def __init__(self, folder: Path) -> None:
        self.ca = trustme.CA()
        self.ca_file = folder / "pagerduty-stub-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
        self.received: list[Received] = []
        # Answers to give before the real checks: (status, headers), one per request.
        self.scripted: deque[tuple[int, dict[str, str]]] = deque()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.port}"

    def __enter__(self) -> PagerDutyStub:
        self.server.expect_request("/v2/enqueue", method="POST").respond_with_handler(self._handle)
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server.is_running():
            self.server.stop()

    def answer_next(self, status: int, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self.scripted.append((status, headers or {}))

    def _handle(self, request: Request) -> Response:
        arrived = time.monotonic()
        try:
            event = json.loads(request.get_data())
        except ValueError:
            event = None
        with self._lock:
            scripted = self.scripted.popleft() if self.scripted else None
        if scripted is not None:
            status, headers = scripted
            body = {"status": "error", "message": f"scripted {status}"}
            answer = Response(json.dumps(body), status, headers, mimetype="application/json")
            errors: list[str] = []
        else:
            errors = validate(event)
            if errors:
                status = 400
                body = {"status": "invalid event", "message": "Event object is invalid"}
                body["errors"] = errors  # type: ignore[assignment]
            else:
                status = 202
                key = event.get("dedup_key") or "generated-key"
                body = {"status": "success", "message": "Event processed", "dedup_key": key}
            answer = Response(json.dumps(body), status, mimetype="application/json")
        with self._arrived:
            self.received.append(
                Received(event if isinstance(event, dict) else {}, status, arrived, errors)
            )
            self._arrived.notify_all()
        return answer

    def reset(self) -> None:
        """Forget what was received (a new run of oncall numbers its incidents from 1)."""
        with self._lock:
            self.received.clear()
            self.scripted.clear()

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.status == 202]

    def wait_for(self, count: int, *, timeout: float = 20.0, accepted: bool = True) -> None:
        """Until `count` requests (accepted ones, by default) have arrived."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                seen = [r for r in self.received if r.status == 202 or not accepted]
                if len(seen) >= count:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"the stub got {len(seen)} of {count} events: {self.received}"
                    )
                self._arrived.wait(left)


WEBHOOK_SECRET = "whsec-test-0123456789abcdef"


def oncall_env(stub: PagerDutyStub, **extra: str) -> dict[str, str]:
    """The environment that points oncall at the stub (and signs its webhooks)."""
    return {
        "ONCALL_PAGERDUTY_EVENTS_URL": stub.url,
        "SSL_CERT_FILE": str(stub.ca_file),
        "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "PAGERDUTY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ONCALL_PUBLIC_URL": "https://oncall.example.com",
        **extra,
    }


def sign(body: bytes, secret: str) -> str:
    """`X-PagerDuty-Signature` as PagerDuty computes it."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(event_type: str, incident_key: str, agent: str = "Ryan Curtin") -> bytes:
    """A v3 webhook as PagerDuty sends it (the documented shape, trimmed)."""
    return json.dumps(
        {
            "event": {
                "id": "01DEN5KX1ZY2Q8Z3ZCEUJ5QKJ4",
                "event_type": event_type,
                "resource_type": "incident",
                "occurred_at": "2026-03-03T15:20:00.000Z",
                "agent": {
                    "html_url": "https://acme.pagerduty.com/users/PLH1HKV",
                    "id": "PLH1HKV",
                    "self": "https://api.pagerduty.com/users/PLH1HKV",
                    "summary": agent,
                    "type": "user_reference",
                },
                "client": {"name": "PagerDuty"},
                "data": {
                    "id": "PGR0VU2",
                    "type": "incident",
                    "self": "https://api.pagerduty.com/incidents/PGR0VU2",
                    "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
                    "number": 2,
                    "status": event_type.rsplit(".", 1)[-1],
                    "incident_key": incident_key,
                    "title": "ltv batch scoring failed",
                    "urgency": "high",
                },
            }
        }
    ).encode()
