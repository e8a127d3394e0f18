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
from oncall.incidents.models import Alert, Incident, IncidentEvent, IncidentStorm
from oncall.leases import Lease
from oncall.outbox import OutboxMessage
from oncall.rca.models import RcaActionItem, RcaDocument
from oncall.rotations.models import CalendarToken, Override, Swap

metadata = SQLModel.metadata

__all__ = [
    "Alert",
    "CalendarToken",
    "CatalogRevision",
    "Escalation",
    "EscalationPolicy",
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
    "Rotation",
    "Route",
    "Swap",
    "Team",
    "metadata",
]
