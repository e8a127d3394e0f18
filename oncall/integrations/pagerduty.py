"""PagerDuty both ways: the outbox handler that sends Events API v2 events through the
official client, and the check of the signature on PagerDuty's v3 webhooks.

Out: one bounded attempt per delivery. The client's own loop sleeps and retries inside the
call (429 without limit, 5xx several times): here it makes one request with a short timeout,
and the outbox does the backoff, so a slow PagerDuty never holds the worker for minutes and
a retry survives a restart. 202 is delivered; 429, 5xx and network errors are retried (with
PagerDuty's Retry-After when it sends one); any other 4xx is permanent, and PagerDuty's own
error text is shown on the incident.

The routing key is looked up when the event is sent, from the team id in the row: keys never
sit in the outbox and are never logged.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import logging
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pagerduty import EventsApiV2Client
from pagerduty.errors import Error as PagerDutyError
from pagerduty.errors import HttpError
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from oncall import links
from oncall.catalog.models import Model, Team
from oncall.catalog.routing_keys import RoutingKey, key_for_team
from oncall.config import Settings
from oncall.incidents.models import Alert, Incident
from oncall.integrations.console import Printer
from oncall.outbox import (
    OUTBOX,
    Claimed,
    Handler,
    MessageKind,
    OutboxMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
)

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5  # per request; the client type takes whole seconds
SUMMARY_LIMIT = 1024  # PagerDuty's limit on payload.summary
ALERTS_IN_DETAILS = 5
# Our severities are PagerDuty's four; anything else reads as a warning.
SEVERITY = {"critical": "critical", "error": "error", "warning": "warning", "info": "info"}


class _OneAttemptClient(EventsApiV2Client):
    """The official client making exactly one request per call.

    Its request loop retries a 429 without limit, sleeping inside the call, whatever `retry`
    says for other statuses; `postprocess` runs after every response, so ending the call
    there on a 429 hands the retry to the outbox."""

    def postprocess(self, response: Any) -> None:
        if response.status_code == 429:
            raise HttpError("PagerDuty rate limit (429)", response)


def _ssl_context(settings: Settings) -> ssl.SSLContext | bool:
    """SSL_CERT_FILE (a corporate CA, a local stub's): the HTTP client does not read it."""
    if settings.ssl_cert_file is None:
        return True
    return ssl.create_default_context(cafile=str(settings.ssl_cert_file))


def make_client(settings: Settings, routing_key: str) -> EventsApiV2Client:
    client = _OneAttemptClient(
        routing_key, base_url=settings.pagerduty_events_url, verify=_ssl_context(settings)
    )
    client.retry = {}  # no status is retried inside the call (the outbox retries)
    client.max_network_attempts = 0  # the first network error ends the call
    client.timeout = TIMEOUT_SECONDS
    return client


# --- rendering an event from the stored incident ---------------------------------------------


@dataclass(frozen=True)
class PreparedEvent:
    """What one outbox row sends: an Events API v2 event, or (`console`) a line saying why
    nothing was sent."""

    action: str
    dedup_key: str
    key: RoutingKey | None = None
    body: Mapping[str, Any] = field(default_factory=dict)
    console: str | None = None


def _trigger_sent(session: Session, dedup_key: str, run: Any) -> bool:
    """Whether this escalation run's trigger reached PagerDuty (an ack or a resolve for an
    incident PagerDuty never heard of is not sent)."""
    if not isinstance(run, int):
        return True  # a row from before runs were recorded: send as asked
    row = session.exec(
        select(OutboxMessage.delivered_via)
        .where(OutboxMessage.channel == "pagerduty")
        .where(OutboxMessage.dedup_key == f"{dedup_key}:{run}:{MessageKind.trigger}")
        .where(col(OutboxMessage.delivered_at).is_not(None))
    ).first()
    return row == "pagerduty"


def _readiness(session: Session, incident: Incident) -> dict[str, Any] | None:
    """The model's PRS at the time of the incident (its latest snapshot then), for the
    responder: how ready the model is and its top gaps."""
    if incident.model_id is None:
        return None
    from oncall.readiness.service import prs_at

    prs = prs_at(session, incident.model_id, at=incident.triggered_at)
    if prs is None:
        return None
    return {
        "percent": None if prs.percent is None else round(prs.percent),
        "partial": prs.partial,
        "as_of": prs.at.astimezone(UTC).isoformat(),
        "top_gaps": [f"{gap.title} ({gap.status})" for gap in prs.gaps()[:3]],
    }


def _trigger_body(session: Session, incident: Incident, settings: Settings) -> dict[str, Any]:
    alerts = list(
        session.exec(
            select(Alert)
            .where(Alert.incident_id == incident.id)
            .order_by(col(Alert.id))
            .limit(ALERTS_IN_DETAILS)
        )
    )
    alert_count = session.exec(
        select(func.count()).select_from(Alert).where(Alert.incident_id == incident.id)
    ).one()
    team = session.get(Team, incident.team_id) if incident.team_id else None
    model = session.get(Model, incident.model_id) if incident.model_id else None
    page = links.incident_url(settings, incident.id)
    runbook = next(
        (
            link
            for link in (
                links.safe_url(raw, base=links.public_base(settings))
                for raw in [incident.labels.get("runbook_url")]
                + [a.annotations.get("runbook_url") for a in alerts]
            )
            if link
        ),
        None,
    )
    summary = f"[{incident.severity.upper()}] {incident.title}"
    payload: dict[str, Any] = {
        "summary": summary[:SUMMARY_LIMIT],
        "source": incident.model_id or incident.labels.get("cluster") or "oncall",
        "severity": SEVERITY.get(incident.severity, "warning"),
        "timestamp": incident.triggered_at.astimezone(UTC).isoformat(),
        "custom_details": {
            "incident": incident.id,
            "model": model.name if model else incident.model_id,
            "team": team.name if team else incident.team_id,
            "rotation": incident.rotation_id,
            "on_call": incident.assignee_id,
            "alert_count": alert_count,
            "alerts": [a.labels for a in alerts],
            "runbook": runbook,
            "incident_url": page,
        },
    }
    readiness = _readiness(session, incident)
    if readiness is not None:
        payload["custom_details"]["prs"] = readiness
    for name, value in (
        ("component", incident.model_id),
        ("group", incident.team_id),
        ("class", incident.labels.get("category")),
    ):
        if value:
            payload[name] = value
    event_links = [{"href": page, "text": f"Incident #{incident.id} in oncall"}]
    slack = links.slack_channel_url(incident.slack_channel) if incident.slack_ts else None
    if slack:
        event_links.append({"href": slack, "text": "Slack message"})
    if runbook:
        event_links.append({"href": runbook, "text": "Runbook"})
    return {"payload": payload, "links": event_links, "client": "oncall", "client_url": page}


def prepare(session: Session, message: Claimed, settings: Settings) -> PreparedEvent:
    """The event a row sends, rendered from the incident as it is now (a late trigger shows
    the latest title and alert count)."""
    p = message.payload
    action = str(p.get("event_action") or message.kind)
    dedup_key = str(p.get("dedup_key"))
    what = f"PagerDuty: {action} dedup_key={dedup_key}"
    key = key_for_team(session=session, team_id=p.get("team_id"), settings=settings)
    if key is None:
        return PreparedEvent(
            action,
            dedup_key,
            console=f"{what}: team {p.get('team_id') or '(none)'} has no routing key "
            "(pagerduty_routing_key in the catalog, or PAGERDUTY_ROUTING_KEY); not sent",
        )
    if action != MessageKind.trigger:
        if not _trigger_sent(session, dedup_key, p.get("run")):
            return PreparedEvent(
                action, dedup_key, console=f"{what}: no trigger reached PagerDuty; not sent"
            )
        return PreparedEvent(action, dedup_key, key=key)
    incident = session.get(Incident, message.incident_id) if message.incident_id else None
    if incident is None:
        return PreparedEvent(action, dedup_key, console=f"{what}: the incident is gone; not sent")
    return PreparedEvent(
        action, dedup_key, key=key, body=_trigger_body(session, incident, settings)
    )


# --- sending ---------------------------------------------------------------------------------


def _retry_after(response: Any) -> timedelta | None:
    raw = response.headers.get("retry-after") if response is not None else None
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return timedelta(seconds=int(raw))
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - datetime.now(UTC), timedelta(0))


def refusal_text(response: Any) -> str:
    """PagerDuty's own words for a refused event: its `message` and `errors`."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        body = None
    if isinstance(body, dict):
        parts = [str(body.get("message") or body.get("status") or "")]
        errors = body.get("errors")
        if isinstance(errors, list):
            parts += [str(e) for e in errors]
        text = "; ".join(p for p in parts if p)
        if text:
            return text[:1000]
    return (response.text or "")[:1000] or "no reason given"


def _classify(exc: PagerDutyError) -> Exception | None:
    """The outbox's view of a failed call; None when PagerDuty accepted the event after all
    (a 2xx whose body the client did not expect)."""
    response = getattr(exc, "response", None)
    if response is None:
        cause = exc.__cause__ or exc
        return RetryableDeliveryError(f"PagerDuty unreachable: {type(cause).__name__}")
    status = int(response.status_code)
    if 200 <= status < 300:
        return None
    if status == 429:
        return RetryableDeliveryError(
            "PagerDuty rate limit (429)", retry_after=_retry_after(response)
        )
    if status >= 500:
        return RetryableDeliveryError(
            f"PagerDuty answered {status}", retry_after=_retry_after(response)
        )
    return PermanentDeliveryError(
        f"PagerDuty refused the event ({status}): {refusal_text(response)}"
    )


class PagerDutyHandler:
    """The outbox's Handler for `Channel.pagerduty`; one client per routing key, kept for the
    connection it holds open."""

    def __init__(self, settings: Settings, *, printer: Printer | None = None) -> None:
        self.settings = settings
        self.printer = printer
        self._clients: dict[str, EventsApiV2Client] = {}
        self._guard = threading.Lock()

    def client(self, key: RoutingKey) -> EventsApiV2Client:
        with self._guard:
            client = self._clients.get(key.value)
            if client is None:
                client = self._clients[key.value] = make_client(self.settings, key.value)
            return client

    def render(self, session: Session, message: Claimed) -> PreparedEvent:
        return prepare(session, message, self.settings)

    def send(self, message: Claimed) -> Mapping[str, Any]:
        event: PreparedEvent = message.rendered
        if event.console is not None or event.key is None:
            line = event.console or f"PagerDuty: {event.action}: not sent"
            if self.printer is not None:
                self.printer(line)
            else:
                log.info("%s", line)
            return {"console": True}
        try:
            dedup_key = self.client(event.key).send_event(
                event.action, dedup_key=event.dedup_key, **event.body
            )
        except PagerDutyError as exc:
            outcome = _classify(exc)
            if outcome is not None:
                raise outcome from None
            dedup_key = event.dedup_key
        if self.printer is not None:
            self.printer(f"PagerDuty: {event.action} dedup_key={dedup_key} sent (202)")
        return {"dedup_key": dedup_key, "routing_key": event.key.origin}

    def recorded(self, session: Session, message: Claimed, result: Mapping[str, Any]) -> None:
        if result.get("console"):  # nothing left the process: say so in `delivered_via`
            session.connection().execute(
                update(OUTBOX).where(OUTBOX.c.id == message.id).values(delivered_via="console")
            )

    def handler(self) -> Handler:
        return Handler(send=self.send, render=self.render, recorded=self.recorded, name="pagerduty")


def pagerduty_handler(settings: Settings, *, printer: Printer | None = None) -> Handler:
    return PagerDutyHandler(settings, printer=printer).handler()


# --- in: v3 webhooks ---------------------------------------------------------------------------


def signature_valid(body: bytes, header: str | None, secret: str) -> bool:
    """`X-PagerDuty-Signature`: `v1=<hex HMAC-SHA256 of the raw body>`, possibly several,
    comma-separated (while a secret is rotated); any valid one passes. Constant-time."""
    if not header:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest().encode()
    valid = False
    for part in header.split(","):
        version, _, given = part.strip().partition("=")
        if version == "v1" and hmac.compare_digest(given.strip().lower().encode(), expected):
            valid = True
    return valid


@dataclass(frozen=True)
class WebhookEvent:
    event_type: str
    incident_key: str | None
    agent: str | None


class UnreadableWebhook(ValueError):
    """A body that is not a v3 webhook envelope (not JSON, or no `event` object)."""


def read_webhook(body: bytes) -> WebhookEvent:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableWebhook(f"the body is not JSON: {exc}") from None
    event = data.get("event") if isinstance(data, dict) else None
    if not isinstance(event, dict):
        raise UnreadableWebhook("the body has no `event` object (PagerDuty webhooks v3)")
    data_obj = event.get("data")
    agent = event.get("agent")
    key = data_obj.get("incident_key") if isinstance(data_obj, dict) else None
    summary = agent.get("summary") if isinstance(agent, dict) else None
    return WebhookEvent(
        event_type=str(event.get("event_type") or ""),
        incident_key=key if isinstance(key, str) else None,
        agent=summary if isinstance(summary, str) and summary.strip() else None,
    )
