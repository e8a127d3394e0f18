"""Prometheus metrics of the service; gauges about stored state are read at scrape time."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

log = logging.getLogger(__name__)


class _StateCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from oncall.incidents.models import Incident
        from oncall.outbox import OutboxMessage
        from oncall.readiness.service import latest_scores

        open_incidents = GaugeMetricFamily(
            "oncall_incidents_open",
            "Incidents not yet resolved, by team, status and severity.",
            labels=["team", "status", "severity"],
        )
        pending = GaugeMetricFamily(
            "oncall_outbox_pending",
            "Side effects (Slack, PagerDuty) written but not yet delivered, by channel.",
            labels=["channel"],
        )
        failed = GaugeMetricFamily(
            "oncall_outbox_failed",
            "Side effects that the target refused for good, by channel.",
            labels=["channel"],
        )
        prs = GaugeMetricFamily(
            "oncall_model_prs_percent",
            "Production Readiness Score of each model (0-100), from its latest snapshot.",
            labels=["model", "team"],
        )
        try:
            with Session(self.engine) as session:
                for snapshot in latest_scores(session):
                    if snapshot.percent is not None:
                        prs.add_metric(
                            [snapshot.model_id, snapshot.team_id or ""], snapshot.percent
                        )
                rows = session.exec(
                    select(Incident.team_id, Incident.status, Incident.severity, func.count())
                    .where(Incident.status != "resolved")
                    .group_by(col(Incident.team_id), col(Incident.status), col(Incident.severity))
                ).all()
                for team, status, severity, count in rows:
                    open_incidents.add_metric([team or "", status, severity], count)
                for target, column in ((pending, OutboxMessage.delivered_at), (failed, None)):
                    query = select(OutboxMessage.channel, func.count()).group_by(
                        col(OutboxMessage.channel)
                    )
                    if column is not None:
                        query = query.where(col(column).is_(None)).where(
                            col(OutboxMessage.failed_at).is_(None)
                        )
                    else:
                        query = query.where(col(OutboxMessage.failed_at).is_not(None))
                    for channel, count in session.exec(query).all():
                        target.add_metric([channel], count)
        except SQLAlchemyError as exc:
            log.warning("metrics: cannot read state from the database: %s", type(exc).__name__)
            return
        yield open_incidents
        yield pending
        yield failed
        yield prs


class ServiceMetrics:
    """One registry per app, so several apps (tests) never collide."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.alerts_received = Counter(
            "oncall_alerts_received",
            "Alerts received from Alertmanager, by their own status.",
            ["status"],
            registry=self.registry,
        )
        self.alerts_rejected = Counter(
            "oncall_alerts_rejected",
            "Alerts of a delivery that could not be read at all and were not stored, by reason "
            "(not_an_object, no_labels).",
            ["reason"],
            registry=self.registry,
        )
        from oncall.incidents.alertmanager import RejectReason

        for reason in RejectReason:  # every reason shows, at 0 until it happens
            self.alerts_rejected.labels(str(reason))
        self.webhook_requests = Counter(
            "oncall_webhook_requests",
            "Alertmanager webhook requests, by HTTP status code.",
            ["code"],
            registry=self.registry,
        )
        self.webhook_seconds = Histogram(
            "oncall_webhook_duration_seconds",
            "Time to validate, store and answer an Alertmanager webhook request.",
            registry=self.registry,
        )
        self.webhook_stores = Counter(
            "oncall_webhook_stores",
            "Deliveries stored, by where: on the event loop (SQLite, no other writer) or in a "
            "worker thread (PostgreSQL, a large delivery, or another SQLite writer in the way).",
            ["where"],
            registry=self.registry,
        )
        self.outbox_deliveries = Counter(
            "oncall_outbox_deliveries",
            "Outbox delivery attempts, by outcome (delivered, retried, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self.registry.register(_StateCollector(engine))
