"""Live readiness evidence from Prometheus, through prometheus-api-client.

One query per metric for every model at once (grouped `by (model)`), plus the rules API for
the shipped alert rules, so scoring 200 models costs the same seven requests as scoring one.
Answers are cached briefly; an outage is cached for less, and becomes `LiveReadings.error`
(live checks `unknown`, the score partial), never an exception.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from oncall.config import Settings, hide_url_password
from oncall.readiness.live import BatchRuns, LiveReadings

log = logging.getLogger(__name__)

# The metric names are DESIGN's ("Metric names the shipped rules and the PRS use").
QUERIES = {
    "predictions": "count by (model) (model_predictions_total)",
    "drift": "count by (model) (model_drift_score)",
    "drift_last_run": "max by (model) (model_drift_last_run_timestamp_seconds)",
    "batch_runs": "sum by (model, status) (increase(model_batch_runs_total[30d]))",
    "batch_last_success": "max by (model) (model_batch_last_success_timestamp_seconds)",
    "firing": 'count by (model, alertname) (ALERTS{alertstate="firing"})',
}
FAILURE_CACHE_SECONDS = 5.0  # an outage is asked about again soon, but not once per model


class PrometheusEvidence:
    """`LiveEvidence` read from the Prometheus at `url`."""

    def __init__(
        self,
        url: str,
        *,
        verify: bool | str = True,
        timeout: float = 3.0,
        cache_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url.rstrip("/")
        self.source = hide_url_password(self.url)
        self.verify = verify
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cached: tuple[float, LiveReadings] | None = None
        self._client: Any = None
        self._session: Any = None
        self.requests_made = 0  # HTTP requests sent to Prometheus (bench and tests read it)

    def _connect(self) -> Any:
        if self._client is None:
            import requests
            from prometheus_api_client.prometheus_connect import PrometheusConnect
            from urllib3.util.retry import Retry

            session = requests.Session()
            session.verify = self.verify  # requests ignores SSL_CERT_FILE by itself
            self._session = session
            self._client = PrometheusConnect(
                url=self.url,
                session=session,
                # No backoff loop (the cache asks again soon); a read timeout stays a timeout.
                retry=Retry(total=0, read=False),
                timeout=self.timeout,  # type: ignore[arg-type]  # requests takes floats
            )
        return self._client

    def readings(self, *, now: datetime) -> LiveReadings:
        with self._lock:
            if self._cached is not None and self._monotonic() < self._cached[0]:
                return self._cached[1]
            found = self._read(now)
            ttl = self.cache_seconds if found.reachable else FAILURE_CACHE_SECONDS
            self._cached = (self._monotonic() + ttl, found)
            return found

    def _query(self, name: str) -> list[dict[str, Any]]:
        self.requests_made += 1
        result: list[dict[str, Any]] = self._connect().custom_query(QUERIES[name])
        return result

    def _rules(self) -> frozenset[str]:
        self._connect()
        self.requests_made += 1
        response = self._session.get(
            f"{self.url}/api/v1/rules",
            params={"type": "alert"},
            timeout=self.timeout,
            verify=self.verify,  # explicit: else REQUESTS_CA_BUNDLE would win over it
        )
        response.raise_for_status()
        groups = response.json()["data"]["groups"]
        return frozenset(str(rule["name"]) for group in groups for rule in group.get("rules", ()))

    def _reason(self, exc: Exception) -> str:
        """A short reason for people (no URL query strings, no stack)."""
        import requests

        if isinstance(exc, requests.Timeout):
            return f"no answer within {self.timeout:g} s"
        if isinstance(exc, requests.exceptions.SSLError):
            return "TLS verification failed (is its CA in SSL_CERT_FILE?)"
        if isinstance(exc, requests.ConnectionError):
            return "cannot connect"
        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            return f"HTTP {exc.response.status_code}"
        if isinstance(exc, ValueError | KeyError | TypeError):
            return f"not a Prometheus API answer ({type(exc).__name__})"
        return _short(exc)  # PrometheusApiClientException: its status code and body

    def _read(self, now: datetime) -> LiveReadings:
        import requests
        import urllib3
        from prometheus_api_client.exceptions import PrometheusApiClientException

        try:
            by_model = {
                name: self._query(name)
                for name in ("predictions", "drift", "drift_last_run", "batch_last_success")
            }
            batch = self._query("batch_runs")
            firing = self._query("firing")
            rules = self._rules()
        except (
            requests.RequestException,
            urllib3.exceptions.HTTPError,
            PrometheusApiClientException,
            ValueError,
            KeyError,
            TypeError,
        ) as exc:
            reason = self._reason(exc)
            log.warning("prometheus %s: live evidence unavailable: %s", self.source, reason)
            return LiveReadings(source=self.source, at=now, error=reason)
        runs: dict[str, dict[str, float]] = {}
        for row in batch:
            labels = row.get("metric", {})
            if "model" in labels:
                runs.setdefault(labels["model"], {})[labels.get("status", "")] = _value(row)
        alerts: dict[str, list[str]] = {}
        for row in firing:
            labels = row.get("metric", {})
            if "model" in labels and "alertname" in labels:
                alerts.setdefault(labels["model"], []).append(labels["alertname"])
        return LiveReadings(
            source=self.source,
            at=now,
            predictions=frozenset(_models(by_model["predictions"])),
            drift=frozenset(_models(by_model["drift"])),
            drift_last_run=_by_model(by_model["drift_last_run"]),
            batch_runs_30d={
                model: BatchRuns(success=r.get("success", 0.0), failure=r.get("failure", 0.0))
                for model, r in runs.items()
            },
            batch_last_success=_by_model(by_model["batch_last_success"]),
            rules_loaded=rules,
            firing={model: tuple(sorted(names)) for model, names in alerts.items()},
        )


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


def _value(row: dict[str, Any]) -> float:
    return float(row["value"][1])


def _models(rows: list[dict[str, Any]]) -> list[str]:
    return [row["metric"]["model"] for row in rows if "model" in row.get("metric", {})]


def _by_model(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {row["metric"]["model"]: _value(row) for row in rows if "model" in row.get("metric", {})}


def build_live_evidence(settings: Settings) -> PrometheusEvidence | None:
    """The Prometheus of ONCALL_PROMETHEUS_URL, or None when it is not set."""
    if not settings.prometheus_url:
        return None
    return PrometheusEvidence(
        settings.prometheus_url,
        verify=settings.requests_verify,
        timeout=settings.prometheus_timeout_seconds,
        cache_seconds=settings.prometheus_cache_seconds,
    )
