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
from oncall.incidents.models import Alert, Incident, IncidentEvent
from oncall.outbox import OutboxMessage
from oncall.rotations.models import CalendarToken, Override, Swap

metadata = SQLModel.metadata

__all__ = [
    "Alert",
    "CalendarToken",
    "CatalogRevision",
    "EscalationPolicy",
    "Incident",
    "IncidentEvent",
    "Model",
    "OutboxMessage",
    "Override",
    "Person",
    "Rotation",
    "Route",
    "Swap",
    "Team",
    "metadata",
]
