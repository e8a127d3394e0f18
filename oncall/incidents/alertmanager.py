"""Alertmanager's webhook (version 4), declared as data: the payload shape, the grouping key,
the resolve rule and an example payload. Unknown fields are ignored (newer versions add some)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

SUPPORTED_VERSION = "4"
# Alertmanager sends this for "no end time" while an alert fires.
ZERO_TIME_YEAR = 1


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    # AwareDatetime: pydantic-core checks the zone itself (no Python call per alert).
    startsAt: AwareDatetime
    endsAt: AwareDatetime | None = None
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=64)

    @property
    def ends_at(self) -> datetime | None:
        """The resolution time; None while firing (Alertmanager sends year 1 then)."""
        if self.endsAt is None or self.endsAt.year <= ZERO_TIME_YEAR:
            return None
        return self.endsAt


class AlertmanagerPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    version: str
    groupKey: str = Field(min_length=1, max_length=65536)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[AlertmanagerAlert] = Field(min_length=1)
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    truncatedAlerts: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _alertnames(self) -> AlertmanagerPayload:
        for index, alert in enumerate(self.alerts):
            if "alertname" not in alert.labels:
                raise ValueError(f"alerts[{index}]: an alert needs an 'alertname' label")
        return self

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value != SUPPORTED_VERSION:
            raise ValueError(
                f"unsupported webhook version {value!r}; this receiver reads version 4"
            )
        return value


def grouping_key(payload: AlertmanagerPayload) -> str:
    """One open incident per Alertmanager group; the key is opaque (never parsed)."""
    return payload.groupKey


def is_firing(alert: AlertmanagerAlert) -> bool:
    """Each alert's own status counts: the top-level status is `firing` if any alert fires."""
    return alert.status == "firing"


EXAMPLE_PAYLOAD = {
    "receiver": "oncall",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "ModelDriftHigh",
                "category": "ml_drift",
                "model": "churn",
                "severity": "warning",
            },
            "annotations": {
                "summary": "Drift score 0.9 for model churn",
                "runbook_url": "runbooks/model-drift.md",
            },
            "startsAt": "2026-11-27T13:25:08.44Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph?g0.expr=model_drift_score",
            "fingerprint": "a87a4a25684a7388",
        }
    ],
    "groupLabels": {"alertname": "ModelDriftHigh", "model": "churn"},
    "commonLabels": {"alertname": "ModelDriftHigh", "model": "churn", "severity": "warning"},
    "commonAnnotations": {"summary": "Drift score 0.9 for model churn"},
    "externalURL": "http://alertmanager.example",
    "version": "4",
    "groupKey": '{}:{alertname="ModelDriftHigh", model="churn"}',
    "truncatedAlerts": 0,
}
