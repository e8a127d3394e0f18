"""Block Kit for incidents: the incident message, its buttons, and the storm message.

Builders take the incident as stored (and the people, team and model it names) and return
blocks; they decide nothing. All alert text goes through `text.escape`, and every block
respects Slack's limits (50 blocks, 3,000 characters a section, 75 a button label)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from oncall.catalog.models import Model, Person, Team
from oncall.incidents.models import Alert, Incident, IncidentStatus
from oncall.integrations.slack import text as t
from oncall.integrations.slack.actions import Action

Block = dict[str, Any]

SEVERITY_EMOJI = {
    "critical": ":red_circle:",
    "error": ":large_orange_circle:",
    "warning": ":large_yellow_circle:",
    "info": ":large_blue_circle:",
}
STATUS_EMOJI = {
    IncidentStatus.triggered: ":rotating_light:",
    IncidentStatus.acknowledged: ":eyes:",
    IncidentStatus.resolved: ":white_check_mark:",
}
# Runbook links shown as buttons at most (the rest are on the incident page).
MAX_RUNBOOKS = 3
# Incidents listed with their own buttons on a storm message: two blocks each, under 50.
STORM_LISTED = 20

# "Drift score 0.9 for model churn", "The highest feature drift score of model churn is 0.73"
_DRIFT_SCORE = re.compile(
    r"drift[ _]score(?: of model \S+)?(?: is)?\s*[:=]?\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE
)


@dataclass(frozen=True)
class IncidentMessage:
    """What the incident message shows, read from the database when it is delivered."""

    incident: Incident
    alerts: Sequence[Alert]
    people: Mapping[str, Person]  # by person id: the assignee, whoever acknowledged/resolved
    team: Team | None
    model: Model | None
    has_rca: bool
    paged: bool  # PagerDuty was triggered in this escalation run
    incident_url: str
    rca_url: str
    public_url: str
    now: datetime
    extra_links: Sequence[tuple[str, str]] = field(default_factory=tuple)


def person(people: Mapping[str, Person], person_id: str | None) -> str:
    """A person id as a mention (`<@U…>` from the catalog's slack_user), else escaped text."""
    return t.person_mention(people.get(person_id) if person_id else None, person_id)


def incident_buttons(incident: Incident, *, has_rca: bool) -> Block:
    """The incident's action buttons as one `actions` block (the message, storms, App Home):
    what its status allows, and RCA once an RCA document exists."""
    value = str(incident.id)
    buttons: list[Block] = []
    if incident.status == IncidentStatus.triggered:
        buttons.append(_button("Acknowledge", Action.acknowledge, value, style="primary"))
    if incident.status != IncidentStatus.resolved:
        buttons.append(_button("Resolve", Action.resolve, value))
        buttons.append(_button("Escalate now", Action.escalate, value, style="danger"))
    if has_rca:
        buttons.append(_button("RCA", Action.rca, value))
    return {"type": "actions", "block_id": f"incident-{incident.id}", "elements": buttons}


def _button(label: str, action: str, value: str, *, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": t.plain(label, t.MAX_BUTTON_LABEL)},
        "action_id": str(action),
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _link_button(label: str, url: str, n: int) -> Block:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": t.plain(label, t.MAX_BUTTON_LABEL)},
        "action_id": f"{Action.link}:{n}",
        "url": url,
    }


def _section(mrkdwn: str, *, more_url: str | None = None) -> Block:
    more = f"<{more_url}|more on the incident page>" if more_url else ""
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": t.truncate(mrkdwn, t.MAX_SECTION_TEXT, more=more)},
    }


def facts(alerts: Sequence[Alert], labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """The labels that matter to the person on call: drift score, job, GPU node and XID."""
    firing = [a for a in alerts if a.status == "firing"] or list(alerts)

    def values(*keys: str, annotations: bool = False) -> list[str]:
        found: list[str] = []
        for source in [labels, *(a.labels for a in firing)] + (
            [a.annotations for a in firing] if annotations else []
        ):
            for key in keys:
                value = source.get(key)
                if value and value not in found:
                    found.append(value)
        return found

    drift = values("drift_score", annotations=True)
    if not drift:
        for a in firing:
            for key in ("summary", "description"):
                match = _DRIFT_SCORE.search(a.annotations.get(key, ""))
                if match and match.group(1) not in drift:
                    drift.append(match.group(1))
    rows = [
        ("Drift score", drift),
        ("Feature", values("feature")),
        ("Job", values("job_name")),
        ("GPU node", values("node", "Hostname")),
        ("XID", values("xid")),
        ("Cluster", values("cluster")),
    ]
    return [
        (name, ", ".join(found[:5]) + (" …" if len(found) > 5 else ""))
        for name, found in rows
        if found
    ]


def state_line(message: IncidentMessage) -> str:
    """Where the incident stands, after its latest change."""
    incident = message.incident
    emoji = STATUS_EMOJI.get(IncidentStatus(incident.status), "")
    if incident.status == IncidentStatus.resolved:
        by = incident.resolved_by
        who = (
            "Alertmanager (all alerts resolved)"
            if by == "alertmanager"
            else person(message.people, by)
        )
        line = f"{emoji} *Resolved* by {who}"
        if incident.resolved_at:
            line += f" {t.date(incident.resolved_at, token='{time}')}"
    elif incident.status == IncidentStatus.acknowledged:
        line = f"{emoji} *Acknowledged* by {person(message.people, incident.acknowledged_by)}"
        if incident.acknowledged_at:
            line += f" {t.date(incident.acknowledged_at, token='{time}')}"
    else:
        line = f"{emoji} *Triggered*, not acknowledged yet"
    if message.paged:
        line += " · :pager: escalated to PagerDuty"
    return line


def incident_blocks(message: IncidentMessage) -> list[Block]:
    """The incident message: what happened, to which model, who is on call, where it stands,
    and what to do (runbooks, buttons)."""
    incident = message.incident
    severity = incident.severity.upper()
    header = f"{severity} · {t.one_line(incident.title)}"
    model = (
        f"`{t.escape(t.one_line(incident.model_id))}`"
        + (f" ({t.escape(t.one_line(message.model.name))})" if message.model else "")
        if incident.model_id
        else "none"
    )
    team = t.escape(t.one_line(message.team.name)) if message.team else "unrouted"
    firing = sum(1 for a in message.alerts if a.status == "firing")
    summary = [
        f"{SEVERITY_EMOJI.get(incident.severity, '')} *{severity}* · "
        f"{t.link(message.incident_url, f'Incident #{incident.id}')}",
        f"*Model:* {model} · *Team:* {team}",
        f"*On call:* {person(message.people, incident.assignee_id)}",
        f"*Started:* {t.relative(incident.triggered_at, message.now)} "
        f"({t.date(incident.triggered_at)})",
        f"*Alerts:* {firing} firing of {len(message.alerts)}"
        + (f" (+{incident.truncated_alerts} not sent)" if incident.truncated_alerts else ""),
    ]
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": t.plain(header, t.MAX_HEADER)}},
        _section("\n".join(summary), more_url=message.incident_url),
    ]
    fields = facts(message.alerts, incident.labels)
    if fields:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {
                        "type": "mrkdwn",
                        "text": t.truncate(f"*{name}:* {t.escape(t.one_line(value))}", 2000),
                    }
                    for name, value in fields[:10]
                ],
            }
        )
    description = _description(message.alerts)
    if description:
        blocks.append(_section(t.escape(description), more_url=message.incident_url))
    blocks.append(_section(state_line(message)))
    links = _links(message)
    if links:
        blocks.append({"type": "actions", "block_id": "links", "elements": links})
    buttons = incident_buttons(incident, has_rca=message.has_rca)
    if buttons["elements"]:  # a resolved incident without an RCA has none
        blocks.append(buttons)
    return blocks[: t.MAX_BLOCKS]


def _description(alerts: Sequence[Alert]) -> str:
    """The first firing alert's description (or summary), as the alert wrote it."""
    firing = [a for a in alerts if a.status == "firing"] or list(alerts)
    for alert in firing:
        text = alert.annotations.get("description") or alert.annotations.get("summary")
        if text:
            return text.strip()
    return ""


def runbooks(alerts: Sequence[Alert], labels: Mapping[str, str], *, base: str) -> list[str]:
    """The distinct runbook URLs of the alerts that are safe to link (http/https only)."""
    found: list[str] = []
    for raw in [labels.get("runbook_url")] + [a.annotations.get("runbook_url") for a in alerts]:
        url = t.safe_url(raw, base=base)
        if url and url not in found:
            found.append(url)
    return found


def _links(message: IncidentMessage) -> list[Block]:
    incident = message.incident
    urls = runbooks(message.alerts, incident.labels, base=message.public_url)
    labelled = [("Runbook" if i == 0 else f"Runbook {i + 1}", u) for i, u in enumerate(urls)]
    labelled = [*labelled[:MAX_RUNBOOKS], ("Incident page", message.incident_url)]
    labelled += list(message.extra_links)
    return [
        _link_button(label, url, n)
        for n, (label, url) in enumerate(labelled)
        if t.safe_url(url) is not None
    ][: t.MAX_BUTTONS]


def incident_text(message: IncidentMessage) -> str:
    """The message's plain `text`: what notifications and screen readers show."""
    incident = message.incident
    who = person(message.people, incident.assignee_id)
    status = str(incident.status)
    text = (
        f"{incident.severity.upper()} incident #{incident.id} ({status}): "
        f"{t.escape(t.one_line(incident.title))}"
    )
    if incident.status == IncidentStatus.triggered:
        text += f" — on call: {who}"
    return t.truncate(text, t.MAX_FALLBACK_TEXT)


# --- storms ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StormMessage:
    storm_id: int
    channel: str
    started_at: datetime
    total: int
    open: int
    severities: Mapping[str, int]
    models: Mapping[str, int]
    listed: Sequence[Incident]  # the first incidents, shown with their buttons
    has_rca: frozenset[int]
    incident_urls: Mapping[int, str]
    dashboard_url: str
    now: datetime


def storm_blocks(message: StormMessage) -> list[Block]:
    """One message for a burst of incidents in a channel: how many, severities, models, and
    each incident with its id, link and buttons (as many as Block Kit allows)."""
    header = f"Incident storm: {message.total} incidents ({message.open} open)"
    summary = (
        f":thunder_cloud_and_rain: *{message.total} incidents* opened here since "
        f"{t.date(message.started_at, token='{time}')} "
        f"({t.relative(message.started_at, message.now)}); gathered in this one message.\n"
        f"*Severities:* {t.escape(_tally(message.severities))}\n"
        f"*Models:* {t.escape(_tally(message.models))}"
    )
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": t.plain(header, t.MAX_HEADER)}},
        _section(summary),
        {"type": "divider"},
    ]
    listed = list(message.listed)[:STORM_LISTED]
    for incident in listed:
        url = message.incident_urls.get(incident.id or 0, message.dashboard_url)
        line = (
            f"{SEVERITY_EMOJI.get(incident.severity, '')} "
            f"{t.link(url, f'#{incident.id}')} *{t.escape(t.one_line(incident.title))}* · "
            f"{STATUS_EMOJI.get(IncidentStatus(incident.status), '')} {incident.status}"
        )
        blocks.append(_section(t.truncate(line, 600)))
        buttons = incident_buttons(incident, has_rca=(incident.id or 0) in message.has_rca)
        if buttons["elements"]:
            blocks.append(buttons)
    rest = message.total - len(listed)
    if rest > 0:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"…and {rest} more: "
                        + t.link(message.dashboard_url, "all incidents"),
                    }
                ],
            }
        )
    return blocks[: t.MAX_BLOCKS]


def storm_text(message: StormMessage) -> str:
    return f"Incident storm: {message.total} incidents in this channel"


def _tally(counts: Mapping[str, int]) -> str:
    ordered = sorted(
        ((t.one_line(str(k))[:64], n) for k, n in counts.items()), key=lambda kv: (-kv[1], kv[0])
    )
    shown = ", ".join(f"{n} {k}" for k, n in ordered[:10])
    return shown + (f", … ({len(ordered) - 10} more)" if len(ordered) > 10 else "")
