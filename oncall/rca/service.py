"""RCA documents: drafted from an incident, completed by people, tracked to their follow-through.

`generate` gathers the incident's facts (timeline, alerts, detection, the model's PRS at the
time, related incidents) into the document's content and proposes an action item for each
readiness gap. It is idempotent: regenerating refreshes the facts and adds items for new gaps,
and keeps what people wrote (root cause, the completed sections) and every item's status,
owner and due date. Every function works in the caller's transaction; the Slack link and the
incident message's RCA button are outbox rows written with the document.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import desc, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from oncall import links
from oncall.catalog.models import Model, Person, Team
from oncall.errors import InvalidRequest, UnknownEntity
from oncall.incidents import flows
from oncall.incidents.models import Alert, Incident
from oncall.incidents.service import alerts_of, get_incident, timeline_of
from oncall.rca.content import (
    DEFAULT_DUE_DAYS,
    DUE_DAYS,
    Related,
    build_content,
    document_context,
    is_overdue,
)
from oncall.rca.models import (
    HUMAN_SECTIONS,
    ActionItemPublic,
    ActionStatus,
    RcaActionItem,
    RcaDocument,
    RcaPatch,
    RcaPublic,
    RcaStatus,
)
from oncall.rca.prs import PrsAtTime
from oncall.rca.render import render_html, render_markdown

log = logging.getLogger(__name__)

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"
RELATED_LIMIT = 5

# (session, model id, the incident's start) -> the PRS at that time, or None.
PrsProvider = Callable[[Session, str, datetime], PrsAtTime | None]


class UnknownRca(UnknownEntity):
    def __init__(self, incident_id: int) -> None:
        super().__init__(
            "RCA",
            str(incident_id),
            message=f"incident {incident_id} has no RCA yet: `oncall rca generate {incident_id}`",
        )


def prs_at_incident(session: Session, model_id: str, at: datetime) -> PrsAtTime | None:
    """The readiness domain's latest snapshot at or before `at`; without one, the score
    computed from the catalog for `at`; None for a model the catalog does not know."""
    try:  # imported when needed: the readiness domain does not depend on RCAs being built
        readiness = importlib.import_module("oncall.readiness.service")
    except ImportError:
        return None
    prs_at = getattr(readiness, "prs_at", None)
    model_prs = getattr(readiness, "model_prs", None)
    if prs_at is None or model_prs is None:
        return None
    snapshot = prs_at(session, model_id, at=at)
    if snapshot is not None:
        return PrsAtTime.of(snapshot, source="snapshot")
    if session.get(Model, model_id) is None:
        return None
    try:
        computed = model_prs(session, model_id, now=at)
    except UnknownEntity:
        return None
    return PrsAtTime.of(computed, source="computed")


# --- generation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Generated:
    document: RcaDocument
    created: bool
    new_items: int


def generate(
    *,
    session: Session,
    incident_id: int,
    now: datetime,
    prs_provider: PrsProvider = prs_at_incident,
    public_url: str = DEFAULT_PUBLIC_URL,
) -> Generated:
    """Draft the incident's RCA, or refresh it (keeping what people wrote)."""
    incident = get_incident(session=session, incident_id=incident_id)
    document = session.get(RcaDocument, incident_id, with_for_update=True)
    created = document is None
    if document is None:
        document = _create(session, incident, now)
        if document is None:  # drafted concurrently (the leader's job and a person at once)
            document = session.get(
                RcaDocument, incident_id, with_for_update=True, populate_existing=True
            )
            assert document is not None
            created = False

    prs = (
        prs_provider(session, incident.model_id, incident.triggered_at)
        if incident.model_id
        else None
    )
    new_items = _propose_action_items(session, incident, prs, now)

    model = session.get(Model, incident.model_id) if incident.model_id else None
    team = session.get(Team, incident.team_id) if incident.team_id else None
    alerts = alerts_of(session=session, incident_id=incident_id)
    content = build_content(
        incident=incident,
        alerts=alerts,
        events=timeline_of(session=session, incident_id=incident_id),
        prs=prs,
        related=_related(session, incident, alerts, base=links.public_base(public_url)),
        model_name=model.name if model else None,
        serves=model.serves if model else None,
        team_name=team.name if team else None,
        model_runbook=_model_runbook(model),
        public_url=public_url,
        now=now,
    )
    document.content = content.to_dict()
    document.model_id = incident.model_id
    document.team_id = incident.team_id
    document.generated_at = now
    document.updated_at = now
    _render(session, document, now)
    session.add(document)
    session.flush()

    if created:
        url = content.incident["rca_url"]
        holds = (
            f"timeline, alerts, the readiness score of {incident.model_id} at the time and "
            f"{new_items} proposed action item(s)"
            if prs is not None
            else "timeline and alerts"
        )
        flows.thread_message(
            session=session,
            incident=incident,
            now=now,
            text=f"RCA draft: {url} ({holds}). Fill in the root cause there.",
        )
        flows.incident_changed(session=session, incident=incident, now=now, reason="rca")
    return Generated(document=document, created=created, new_items=new_items)


def _create(session: Session, incident: Incident, now: datetime) -> RcaDocument | None:
    document = RcaDocument(
        incident_id=_id(incident),
        model_id=incident.model_id,
        team_id=incident.team_id,
        status=RcaStatus.draft,
        generated_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(document)
            session.flush()
    except IntegrityError:
        return None
    return document


def _id(incident: Incident) -> int:
    if incident.id is None:
        raise ValueError("the incident must be stored first")
    return incident.id


def _model_runbook(model: Model | None) -> str | None:
    documentation = (model.readiness or {}).get("documentation") if model else None
    runbook = documentation.get("runbook") if isinstance(documentation, dict) else None
    return runbook if isinstance(runbook, str) else None


def owner_for(session: Session, incident: Incident) -> str | None:
    """Who owns proposed action items: the team's first lead, else the person on call."""
    team = session.get(Team, incident.team_id) if incident.team_id else None
    for lead in team.leads if team else []:
        person = session.get(Person, lead)
        if person is not None and person.retired_at is None:
            return person.id
    return incident.assignee_id


def due_for(severity: str, *, proposed: datetime) -> datetime:
    return proposed + timedelta(days=DUE_DAYS.get(severity, DEFAULT_DUE_DAYS))


def _propose_action_items(
    session: Session, incident: Incident, prs: PrsAtTime | None, now: datetime
) -> int:
    """One item per readiness gap not proposed yet; items already there stay as they are."""
    if prs is None or not prs.gaps:
        return 0
    items = action_items_of(session=session, incident_id=_id(incident))
    known = {item.check_id for item in items if item.check_id}
    number = max((item.number for item in items), default=0)
    owner = owner_for(session, incident)
    added = 0
    for gap in prs.gaps:
        if gap.id in known:
            continue
        number += 1
        added += 1
        known.add(gap.id)
        session.add(
            RcaActionItem(
                incident_id=_id(incident),
                number=number,
                title=f"{gap.title}: {gap.improve}" if gap.improve else gap.title,
                check_id=gap.id,
                model_id=incident.model_id,
                owner_id=owner,
                due_at=due_for(incident.severity, proposed=now),
                status=ActionStatus.open,
                created_at=now,
            )
        )
    session.flush()
    return added


def _related(
    session: Session, incident: Incident, alerts: Sequence[Alert], *, base: str
) -> list[Related]:
    """The latest earlier incidents of the same model or alert, with their RCA's root cause."""
    names = sorted({a.alertname for a in alerts if a.alertname})
    same: list[Any] = []
    if incident.model_id:
        same.append(col(Incident.model_id) == incident.model_id)
    if names:
        same.append(
            col(Incident.id).in_(
                select(Alert.incident_id).where(col(Alert.alertname).in_(names)).distinct()
            )
        )
    if not same:
        return []
    rows = session.exec(
        select(Incident, RcaDocument)
        .join(RcaDocument, col(RcaDocument.incident_id) == col(Incident.id), isouter=True)
        .where(or_(*same))
        .where(col(Incident.id) != incident.id)
        .where(col(Incident.triggered_at) <= incident.triggered_at)
        .order_by(desc(col(Incident.triggered_at)), desc(col(Incident.id)))
        .limit(RELATED_LIMIT)
    ).all()
    return [
        Related(
            id=_id(past),
            title=past.title,
            severity=past.severity,
            status=past.status,
            triggered_at=past.triggered_at.isoformat(),
            root_cause=rca.root_cause if rca else None,
            rca_status=rca.status if rca else None,
            rca_url=links.rca_url(base, past.id) if rca else None,
            incident_url=links.incident_url(base, past.id),
        )
        for past, rca in rows
    ]


# --- reading ---------------------------------------------------------------------------------


def get(*, session: Session, incident_id: int) -> RcaDocument:
    document = session.get(RcaDocument, incident_id)
    if document is None:
        get_incident(session=session, incident_id=incident_id)  # unknown incident: say that
        raise UnknownRca(incident_id)
    return document


def action_items_of(*, session: Session, incident_id: int) -> list[RcaActionItem]:
    return list(
        session.exec(
            select(RcaActionItem)
            .where(RcaActionItem.incident_id == incident_id)
            .order_by(col(RcaActionItem.number))
        )
    )


def list_documents(
    *,
    session: Session,
    now: datetime,
    overdue: bool = False,
    status: str | None = None,
    team_id: str | None = None,
    limit: int = 200,
) -> list[RcaDocument]:
    """Newest first. `overdue`: only documents with an open action item past its due date."""
    query = select(RcaDocument).order_by(desc(col(RcaDocument.incident_id))).limit(limit)
    if status is not None:
        query = query.where(RcaDocument.status == _status(status))
    if team_id is not None:
        query = query.where(RcaDocument.team_id == team_id)
    if overdue:
        query = query.where(
            col(RcaDocument.incident_id).in_(
                select(RcaActionItem.incident_id)
                .where(RcaActionItem.status == ActionStatus.open)
                .where(col(RcaActionItem.due_at) < now)
            )
        )
    return list(session.exec(query))


def public(session: Session, document: RcaDocument, now: datetime) -> RcaPublic:
    base = str(document.content.get("public_url") or DEFAULT_PUBLIC_URL)
    return RcaPublic(
        incident_id=document.incident_id,
        model_id=document.model_id,
        team_id=document.team_id,
        status=document.status,
        template=document.template,
        root_cause=document.root_cause,
        sections=dict(document.sections),
        generated_at=document.generated_at,
        updated_at=document.updated_at,
        action_items=[
            ActionItemPublic(
                number=item.number,
                title=item.title,
                check_id=item.check_id,
                model_id=item.model_id,
                owner=item.owner_id,
                due_at=item.due_at,
                status=item.status,
                done_at=item.done_at,
                overdue=is_overdue(item, now),
            )
            for item in action_items_of(session=session, incident_id=document.incident_id)
        ],
        url=links.rca_url(base, document.incident_id),
        markdown_url=links.rca_markdown_url(base, document.incident_id),
    )


# --- changes people make ---------------------------------------------------------------------


def _status(value: str) -> RcaStatus:
    try:
        return RcaStatus(value)
    except ValueError:
        raise InvalidRequest(
            f"status {value!r} is not one of draft, in_review, done", field="status"
        ) from None


def set_status(
    *,
    session: Session,
    incident_id: int,
    status: str,
    now: datetime,
    root_cause: str | None = None,
) -> RcaDocument:
    """Move the RCA to draft, in_review or done; done needs its root cause written."""
    patch = RcaPatch(status=_status(status), root_cause=root_cause)
    return update(session=session, incident_id=incident_id, patch=patch, now=now)


def action_done(*, session: Session, incident_id: int, number: int, now: datetime) -> RcaActionItem:
    """Close action item N; closing it again keeps the first closing time."""
    get(session=session, incident_id=incident_id)
    item = _item(session, incident_id, number)
    if item.status != ActionStatus.done:
        item.status = ActionStatus.done
        item.done_at = now
        session.add(item)
        _touch(session, incident_id, now)
    return item


def _item(session: Session, incident_id: int, number: int) -> RcaActionItem:
    item = session.exec(
        select(RcaActionItem)
        .where(RcaActionItem.incident_id == incident_id)
        .where(RcaActionItem.number == number)
    ).first()
    if item is None:
        raise UnknownEntity(
            "action item",
            f"{incident_id}/{number}",
            message=f"the RCA of incident {incident_id} has no action item {number}",
        )
    return item


def update(*, session: Session, incident_id: int, patch: RcaPatch, now: datetime) -> RcaDocument:
    """Apply a PATCH: status, what people wrote, action items (status, owner, due date).
    Everything is checked before anything changes; a refusal names the field."""
    document = get(session=session, incident_id=incident_id)
    items = {
        item.number: item for item in action_items_of(session=session, incident_id=incident_id)
    }
    for index, change in enumerate(patch.action_items):
        where = f"action_items[{index}]"
        if change.number not in items:
            raise InvalidRequest(
                f"the RCA of incident {incident_id} has no action item {change.number}",
                field=f"{where}.number",
            )
        if change.owner is not None:
            person = session.get(Person, change.owner)
            if person is None or person.retired_at is not None:
                raise InvalidRequest(
                    f"unknown person {change.owner!r}: an owner is a person id of the catalog",
                    field=f"{where}.owner",
                )
        if change.due is not None and change.due.tzinfo is None:
            raise InvalidRequest(
                "a due date needs a time zone offset (e.g. 2026-03-20T17:00:00Z)",
                field=f"{where}.due",
            )
    root_cause = document.root_cause if patch.root_cause is None else patch.root_cause.strip()
    if patch.status == RcaStatus.done and not root_cause:
        raise InvalidRequest(
            "an RCA is done once its root cause is written: give root_cause", field="root_cause"
        )

    if patch.status is not None:
        document.status = patch.status
    document.root_cause = root_cause or None
    sections = dict(document.sections)
    for key in HUMAN_SECTIONS:
        value = getattr(patch, key)
        if value is not None:
            if value.strip():
                sections[key] = value.strip()
            else:
                sections.pop(key, None)
    document.sections = sections
    for change in patch.action_items:
        item = items[change.number]
        if change.status is not None and change.status != item.status:
            item.status = change.status
            item.done_at = now if change.status == ActionStatus.done else None
        if change.owner is not None:
            item.owner_id = change.owner
        if change.due is not None:
            item.due_at = change.due
        session.add(item)
    session.flush()
    _touch(session, incident_id, now, document)
    return document


def _touch(
    session: Session, incident_id: int, now: datetime, document: RcaDocument | None = None
) -> None:
    """Re-render the stored Markdown after a change people made."""
    document = document or get(session=session, incident_id=incident_id)
    document.updated_at = now
    _render(session, document, now)
    session.add(document)
    session.flush()


# --- rendering -------------------------------------------------------------------------------


def context_of(session: Session, document: RcaDocument, now: datetime) -> dict[str, Any]:
    """What both templates (and a team's own) see: the content, what people wrote, the items."""
    items = action_items_of(session=session, incident_id=document.incident_id)
    return document_context(document, items, now=now)


def _render(session: Session, document: RcaDocument, now: datetime) -> None:
    team = session.get(Team, document.team_id) if document.team_id else None
    context = context_of(session, document, now)
    if team is not None and team.rca_template:
        try:
            document.markdown = render_markdown(context, team_template=team.rca_template)
            document.template = f"team:{team.id}"
            return
        except Exception as exc:  # a team's template must never cost the team its RCA
            log.warning(
                "RCA %s: team %s's template failed (%s); default used",
                document.incident_id,
                team.id,
                exc,
            )
            context["notes"] = [
                *context.get("notes", []),
                f"The team's own template could not render ({type(exc).__name__}: {exc}); "
                "this is the default one.",
            ]
    document.markdown = render_markdown(context)
    document.template = "default"


def markdown_of(*, session: Session, incident_id: int) -> str:
    return get(session=session, incident_id=incident_id).markdown


def html_of(*, session: Session, incident_id: int, now: datetime) -> str:
    document = get(session=session, incident_id=incident_id)
    return render_html(context_of(session, document, now))


# --- follow-through ----------------------------------------------


@dataclass(frozen=True)
class FollowThrough:
    """Action items that fell due in a window: closed by their due date, late, still open."""

    due: int
    on_time: int
    late: int
    open: int

    @property
    def percent(self) -> float | None:
        return None if self.due == 0 else 100.0 * self.on_time / self.due


def follow_through(
    *,
    session: Session,
    now: datetime,
    model_id: str | None = None,
    team_id: str | None = None,
    days: int = 90,
) -> FollowThrough:
    query = (
        select(RcaActionItem)
        .where(col(RcaActionItem.due_at) >= now - timedelta(days=days))
        .where(col(RcaActionItem.due_at) <= now)
    )
    if model_id is not None:
        query = query.where(RcaActionItem.model_id == model_id)
    if team_id is not None:
        query = query.join(
            RcaDocument, col(RcaDocument.incident_id) == col(RcaActionItem.incident_id)
        ).where(RcaDocument.team_id == team_id)
    items = list(session.exec(query))
    on_time = sum(
        1 for i in items if i.done_at is not None and i.due_at is not None and i.done_at <= i.due_at
    )
    still_open = sum(1 for i in items if i.status == ActionStatus.open)
    return FollowThrough(
        due=len(items), on_time=on_time, late=len(items) - on_time - still_open, open=still_open
    )
