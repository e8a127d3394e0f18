"""Live evidence: what Prometheus says about models now, as plain values.

The domain asks a `LiveEvidence` for one `LiveReadings` covering every model at once (one
query per metric, not per model); the Prometheus implementation is in
`oncall.integrations.prometheus`. A reading that could not be taken says why in `error`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

# The shipped alert rules (deploy/prometheus/rules) and the model metrics each one watches.
DRIFT_RULES = ("ModelDriftHigh", "ModelDriftJobStale")
BATCH_RULES = ("BatchJobFailed", "BatchJobNoRecentSuccess")


@dataclass(frozen=True)
class BatchRuns:
    success: float
    failure: float

    @property
    def total(self) -> float:
        return self.success + self.failure

    @property
    def success_rate(self) -> float | None:
        return self.success / self.total if self.total > 0 else None


@dataclass(frozen=True)
class LiveReadings:
    """Prometheus's answers for all models, keyed by the `model` label."""

    source: str  # where they came from (the Prometheus URL, without credentials)
    at: datetime  # when they were read
    error: str | None = None  # set when Prometheus could not be read: live checks are unknown
    predictions: frozenset[str] = frozenset()  # models exporting model_predictions_total
    drift: frozenset[str] = frozenset()  # models with a model_drift_score series
    drift_last_run: dict[str, float] = field(default_factory=dict)  # model -> unix seconds
    batch_runs_30d: dict[str, BatchRuns] = field(default_factory=dict)
    batch_last_success: dict[str, float] = field(default_factory=dict)  # newest of its jobs
    rules_loaded: frozenset[str] = frozenset()  # alerting rule names Prometheus evaluates
    firing: dict[str, tuple[str, ...]] = field(default_factory=dict)  # model -> alert names

    @property
    def reachable(self) -> bool:
        return self.error is None


class LiveEvidence(Protocol):
    """A source of live readings; implementations cache briefly and never raise for an outage."""

    def readings(self, *, now: datetime) -> LiveReadings: ...
