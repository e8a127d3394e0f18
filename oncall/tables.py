"""Every table of the service, imported in one place so `SQLModel.metadata` is complete."""

from sqlmodel import SQLModel

from oncall.catalog.models import (
    CatalogRevision,
    EscalationPolicy,
    Model,
    Person,
    Rotation,
    Route,
    Team,
)
from oncall.escalation.models import Escalation
from oncall.homes import SlackHomeOpened
from oncall.incidents.models import Alert, Incident, IncidentEvent, IncidentStorm
from oncall.integrations.slack.seen import SeenSlackRequest
from oncall.leases import Lease
from oncall.outbox import OutboxMessage
from oncall.rca.models import RcaActionItem, RcaDocument
from oncall.readiness.models import ReadinessSnapshot, RecordedRun
from oncall.rotations.models import CalendarToken, HandOff, Override, Swap

metadata = SQLModel.metadata

__all__ = [
    "Alert",
    "CalendarToken",
    "CatalogRevision",
    "Escalation",
    "EscalationPolicy",
    "HandOff",
    "Incident",
    "IncidentEvent",
    "IncidentStorm",
    "Lease",
    "Model",
    "OutboxMessage",
    "Override",
    "Person",
    "RcaActionItem",
    "RcaDocument",
    "ReadinessSnapshot",
    "RecordedRun",
    "Rotation",
    "Route",
    "SeenSlackRequest",
    "SlackHomeOpened",
    "Swap",
    "Team",
    "metadata",
]
