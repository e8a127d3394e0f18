"""Alertmanager's webhook (version 4), declared as data: the payload shape, the grouping key,
the resolve rule, an example payload, and how a delivery is read.

Alertmanager never retries a 4xx, so a refused delivery is lost. `read_delivery` therefore
refuses only an unusable envelope (`UnusableDelivery`): a body that is not JSON, not a JSON
object, or has no `alerts` list. Everything else is read, the well-formed part as it came and
the rest as far as it can be:

- Fast path: the strict models below, straight from the bytes (pydantic-core). Almost every
  delivery is well-formed and takes only this path. It steps aside to the lenient reader for
  what it would store badly: a NUL character (PostgreSQL text cannot hold one) and instants
  outside the years 2-9998 (converting them to UTC, or reading them back in another time zone,
  overflows).
- Lenient path: the body is loaded as plain JSON (`json`, which keeps integers of any size,
  lone surrogates and raw control characters; bytes that are not UTF-8 become U+FFFD; nesting
  deeper than it can read is "not JSON"). An alert the strict model accepts is taken as it is;
  any other is coerced on its own into the same `AlertmanagerAlert`:
  - an alert that is not a JSON object is rejected (`not_an_object`), and so is one with
    neither labels nor a fingerprint (`no_labels`): nothing tells it apart from another one.
    Rejected alerts are counted (`oncall_alerts_rejected_total{reason}`) and logged by the
    webhook; they also count as truncated alerts, since they may still fire (an incident with
    truncated alerts does not auto-resolve);
  - `alertname` is a label like any other: an alert without one is stored;
  - `status` other than firing/resolved (any case) is derived: resolved when `endsAt` is a
    real time not after now, else firing. The envelope's `status` is derived from its alerts;
  - `startsAt` missing or unreadable: the Unix epoch (1970-01-01T00:00:00Z), so that every
    re-delivery names the same occurrence (fingerprint + startsAt). A time without a zone is
    read as UTC. `endsAt` unreadable: none (the zero time 0001-01-01 means none already);
  - `fingerprint` missing, empty or not text: computed from the labels as Alertmanager computes
    it (FNV-1a 64 over the sorted label names and values, each followed by the byte 0xff, as 16
    hex digits), so it is the one Alertmanager would have sent. A number is kept as its digits;
    one over 64 characters (the column) becomes its SHA-256 in hex (64 characters, still
    distinct);
  - labels and annotations: numbers and booleans are stored as their JSON text; null, lists,
    objects and non-finite numbers are dropped; a value that is not an object is ignored ({});
  - text: NUL characters and lone surrogates become U+FFFD. Long text is kept (JSON and text
    columns hold it); the alert's `alertname` column keeps its first 256 characters, the
    incident's title its first 300 and its `model_id` (an unknown `model` label) its first 128.
- Envelope: `version` other than "4" is read as version 4 (with a warning); `groupKey`
  missing or not text is derived from the receiver and `groupLabels` (else `commonLabels`)
  as `oncall-derived/<receiver>:{name="value", ...}`, and one over 65,536 characters keeps its
  start plus its SHA-256; `commonLabels` missing is derived as the labels every alert shares
  (Alertmanager's own definition); `truncatedAlerts` is clamped to 0..2**31-1 (the column is a
  32-bit integer on PostgreSQL; a float, a numeric string or a boolean is read as a count);
  other fields of the wrong type are left empty.

Every repair is reported as a warning (in the answer, the first 20, and in one log line). A
delivery with no usable alert is answered 200 with what happened, and nothing is stored.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import reprlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

SUPPORTED_VERSION = "4"
# Alertmanager sends this for "no end time" while an alert fires.
ZERO_TIME_YEAR = 1
MAX_FINGERPRINT = 64  # Alert.fingerprint
MAX_GROUP_KEY = 65536
MAX_TRUNCATED_ALERTS = 2**31 - 1  # Incident.truncated_alerts: INTEGER on PostgreSQL
# Instants outside these years overflow when converted to UTC or read back in another zone.
FIRST_YEAR, LAST_YEAR = 2, 9998
UNKNOWN_START = datetime(1970, 1, 1, tzinfo=UTC)
DERIVED_GROUP_KEY_PREFIX = "oncall-derived/"
MAX_WARNINGS = 20
MAX_REJECTED_EXAMPLES = 10


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    # AwareDatetime: pydantic-core checks the zone itself (no Python call per alert).
    startsAt: AwareDatetime
    endsAt: AwareDatetime | None = None
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=MAX_FINGERPRINT)

    @property
    def ends_at(self) -> datetime | None:
        """The resolution time; None while firing (Alertmanager sends year 1 then)."""
        if self.endsAt is None or self.endsAt.year <= ZERO_TIME_YEAR:
            return None
        return self.endsAt


class AlertmanagerPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    version: str  # any version is read as version 4 (the webhook warns)
    groupKey: str = Field(min_length=1, max_length=MAX_GROUP_KEY)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[AlertmanagerAlert] = Field(min_length=1)
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    truncatedAlerts: int = Field(0, ge=0, le=MAX_TRUNCATED_ALERTS)


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


# -- reading a delivery ---------------------------------------------------------------------


class RejectReason(StrEnum):
    """Why an alert of a delivery could not be stored at all (a metric label: keep it short)."""

    not_an_object = "not_an_object"
    no_labels = "no_labels"


class UnusableDelivery(Exception):
    """The envelope itself cannot be read: nothing of the delivery can be stored."""

    def __init__(self, kind: Literal["not_json", "not_an_object", "no_alerts"], reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class RejectedAlert:
    index: int
    reason: RejectReason
    excerpt: str  # what was sent, shortened (for the log, which writes it with %r)


@dataclass
class Delivery:
    """What a webhook body holds: the payload to store (None when no alert is usable), the
    alerts left out (counted by reason; the first few kept for the log) and what was repaired.
    """

    payload: AlertmanagerPayload | None
    rejected: Counter[RejectReason] = field(default_factory=Counter)
    rejected_examples: list[RejectedAlert] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    version: str = SUPPORTED_VERSION

    @property
    def rejected_count(self) -> int:
        return sum(self.rejected.values())


def read_delivery(body: bytes, *, now: datetime) -> Delivery:
    """Read a webhook body: strictly (fast) when it is well-formed, else leniently. `now` decides
    the status of an alert that does not say it. Raises `UnusableDelivery`."""
    try:
        payload = AlertmanagerPayload.model_validate_json(body)
    except ValidationError:
        return _read_leniently(body, now)
    if b"\\u0000" in body or not _instants_in_range(payload.alerts):
        return _read_leniently(body, now)
    warnings: list[str] = []
    if "commonLabels" not in payload.model_fields_set:
        warnings.append("commonLabels missing: taken as the labels every alert shares")
        payload = payload.model_copy(update={"commonLabels": _shared_labels(payload.alerts)})
    if payload.version != SUPPORTED_VERSION:
        warnings.append(_version_warning(payload.version))
    return Delivery(payload, warnings=warnings, version=payload.version)


def _instants_in_range(alerts: Iterable[AlertmanagerAlert]) -> bool:
    # endsAt in year 1 is the zero time ("none"): it is never converted.
    return all(
        FIRST_YEAR <= a.startsAt.year <= LAST_YEAR
        and (a.endsAt is None or a.endsAt.year <= LAST_YEAR)
        for a in alerts
    )


def _version_warning(version: str) -> str:
    return f"webhook version {version[:40]!r} is not {SUPPORTED_VERSION}; read as version 4"


class _Notes:
    """Warnings, the first MAX_WARNINGS in full and the rest counted."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.more = 0

    @property
    def full(self) -> bool:
        return len(self.shown) >= MAX_WARNINGS

    def add(self, text: str) -> None:
        if len(self.shown) < MAX_WARNINGS:
            self.shown.append(text)
        else:
            self.more += 1

    def done(self) -> list[str]:
        return self.shown + ([f"and {self.more} more warnings"] if self.more else [])


def _read_leniently(body: bytes, now: datetime) -> Delivery:
    data = _load_json(body)
    if not isinstance(data, dict):
        raise UnusableDelivery(
            "not_an_object", "body must be a JSON object (an Alertmanager webhook payload)"
        )
    sent_alerts = data.get("alerts")
    if not isinstance(sent_alerts, list):
        raise UnusableDelivery(
            "no_alerts",
            "body has no 'alerts' list: not an Alertmanager webhook payload"
            + ("" if sent_alerts is None else f" ('alerts' is {_kind(sent_alerts)})"),
        )
    notes = _Notes()
    # Where the text is clean (no NUL, no escaped surrogate: nearly always), an alert the
    # strict model accepts is taken as it is, at the strict model's speed.
    clean = _UNSAFE_BYTES.search(body) is None
    alerts: list[AlertmanagerAlert] = []
    rejected: Counter[RejectReason] = Counter()
    examples: list[RejectedAlert] = []
    for index, sent in enumerate(sent_alerts):
        strict = _strict_alert(sent) if clean else None
        read = strict if strict is not None else _read_alert(sent, f"alerts[{index}]", now, notes)
        if not isinstance(read, RejectReason):
            alerts.append(read)
            continue
        rejected[read] += 1
        if len(examples) < MAX_REJECTED_EXAMPLES:
            examples.append(RejectedAlert(index, read, _excerpt(sent)))
        if notes.full:
            notes.more += 1
        else:
            notes.add(f"alerts[{index}]: {_REJECT_TEXT[read]} ({_kind(sent)}); not stored")

    version = _read_version(data.get("version"), notes)
    if isinstance(data.get("commonLabels"), dict):
        common = _read_text_map(data["commonLabels"], "commonLabels", notes)
    else:
        notes.add(
            f"commonLabels {_short(data.get('commonLabels'))} unreadable: "
            "taken as the labels every alert shares"
        )
        common = _shared_labels(alerts)
    group_labels = _read_text_map(data.get("groupLabels"), "groupLabels", notes)
    receiver = _read_text(data.get("receiver"), "receiver", notes)
    truncated = _read_count(data.get("truncatedAlerts"), notes)
    if not alerts:
        notes.add("the delivery holds no alerts" if not sent_alerts else "no alert could be read")
        return Delivery(None, rejected, examples, notes.done(), version)
    firing = any(a.status == "firing" for a in alerts)
    if data.get("status") not in ("firing", "resolved"):
        notes.add(f"status {_short(data.get('status'))} unreadable: taken from the alerts")
    payload = AlertmanagerPayload.model_construct(
        version=version,
        groupKey=_read_group_key(data.get("groupKey"), receiver, group_labels or common, notes),
        status="firing" if firing else "resolved",
        receiver=receiver,
        alerts=alerts,
        groupLabels=group_labels,
        commonLabels=common,
        commonAnnotations=_read_text_map(data.get("commonAnnotations"), "commonAnnotations", notes),
        externalURL=_read_text(data.get("externalURL"), "externalURL", notes),
        # Alerts we could not read may still fire: they count as left out.
        truncatedAlerts=min(MAX_TRUNCATED_ALERTS, truncated + sum(rejected.values())),
    )
    return Delivery(payload, rejected, examples, notes.done(), version)


_REJECT_TEXT = {
    RejectReason.not_an_object: "not an object",
    RejectReason.no_labels: "neither labels nor a fingerprint",
}


def _load_json(body: bytes) -> Any:
    """Plain JSON with integers of any size (over 4300 digits: infinity, then clamped) and
    control characters inside strings (Go escapes them; others may not)."""
    try:
        try:
            return json.loads(body, parse_int=_parse_int, strict=False)
        except UnicodeDecodeError:
            # Go writes valid UTF-8; whatever damaged the bytes should not lose the alerts.
            return json.loads(body.decode("utf-8", "replace"), parse_int=_parse_int, strict=False)
    except RecursionError:
        raise UnusableDelivery(
            "not_json", "body is not JSON we can read: nested too deeply"
        ) from None
    except ValueError as exc:  # JSONDecodeError, or a body in no Unicode encoding
        raise UnusableDelivery("not_json", f"body is not JSON: {str(exc)[:200]}") from None


def _parse_int(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:  # more digits than Python converts
        return math.inf if not text.startswith("-") else -math.inf


_ALERT: TypeAdapter[AlertmanagerAlert] = TypeAdapter(AlertmanagerAlert)
# NUL (escaped or raw) and escaped surrogates (a valid pair, too, is merely slower to read).
_UNSAFE_BYTES = re.compile(rb"\x00|\\u0000|\\u[dD][89a-fA-F]")


def _strict_alert(sent: Any) -> AlertmanagerAlert | None:
    """The alert as the strict model reads it, or None (malformed, or instants out of range)."""
    try:
        alert = _ALERT.validate_python(sent)
    except ValidationError:
        return None
    return alert if _instants_in_range((alert,)) else None


def _read_alert(
    sent: Any, where: str, now: datetime, notes: _Notes
) -> AlertmanagerAlert | RejectReason:
    if not isinstance(sent, dict):
        return RejectReason.not_an_object
    labels = _read_text_map(sent.get("labels"), f"{where}.labels", notes)
    fingerprint = _read_fingerprint(sent.get("fingerprint"), labels, where, notes)
    if fingerprint is None:
        return RejectReason.no_labels
    starts_at = _read_instant(sent.get("startsAt"), f"{where}.startsAt", notes, zero=False)
    if starts_at is None:
        notes.add(f"{where}.startsAt missing or unreadable: taken as {UNKNOWN_START:%Y-%m-%d}")
        starts_at = UNKNOWN_START
    ends_at = _read_instant(sent.get("endsAt"), f"{where}.endsAt", notes, zero=True)
    sent_status = sent.get("status")
    status: Literal["firing", "resolved"]
    if isinstance(sent_status, str) and sent_status.strip().lower() == "firing":
        status = "firing"
    elif isinstance(sent_status, str) and sent_status.strip().lower() == "resolved":
        status = "resolved"
    else:
        status = "resolved" if ends_at is not None and ends_at <= now else "firing"
        notes.add(f"{where}.status {_short(sent.get('status'))} unreadable: taken as {status}")
    return AlertmanagerAlert.model_construct(
        status=status,
        labels=labels,
        annotations=_read_text_map(sent.get("annotations"), f"{where}.annotations", notes),
        startsAt=starts_at,
        endsAt=ends_at,
        generatorURL=_read_text(sent.get("generatorURL"), f"{where}.generatorURL", notes),
        fingerprint=fingerprint,
    )


_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")


def clean_text(text: str) -> str:
    """NUL (PostgreSQL text cannot hold it) and lone surrogates (not encodable) become U+FFFD."""
    return _UNSAFE_TEXT.sub("\ufffd", text)


def _read_text(value: Any, where: str, notes: _Notes) -> str:
    if isinstance(value, str):
        return clean_text(value)
    if value is not None:
        notes.add(f"{where} is {_kind(value)}, not text: left empty")
    return ""


def _read_text_map(value: Any, where: str, notes: _Notes) -> dict[str, str]:
    """Labels or annotations: text values kept, scalars as their JSON text, the rest dropped."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        notes.add(f"{where} is {_kind(value)}, not an object: ignored")
        return {}
    texts: dict[str, str] = {}
    for key, item in value.items():
        name = clean_text(key)
        if isinstance(item, str):
            texts[name] = clean_text(item)
        elif isinstance(item, bool):
            texts[name] = "true" if item else "false"
            notes.add(f"{where}.{name[:60]}: a boolean, stored as text")
        elif isinstance(item, int) or (isinstance(item, float) and math.isfinite(item)):
            texts[name] = json.dumps(item)
            notes.add(f"{where}.{name[:60]}: a number, stored as text")
        else:
            notes.add(f"{where}.{name[:60]}: {_kind(item)}, not text: dropped")
    return texts


def _read_fingerprint(
    value: Any, labels: Mapping[str, str], where: str, notes: _Notes
) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and value:
        text = clean_text(value)
        if len(text) > MAX_FINGERPRINT:
            notes.add(f"{where}.fingerprint longer than {MAX_FINGERPRINT}: its SHA-256 is used")
            return hashlib.sha256(text.encode("utf-8")).hexdigest()
        return text
    if not labels:
        return None
    notes.add(f"{where}.fingerprint missing or unreadable: computed from the labels")
    return label_fingerprint(labels)


_FNV_OFFSET, _FNV_PRIME, _MASK64 = 14695981039346656037, 1099511628211, 2**64 - 1


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (prometheus/common model.LabelSet)."""
    hashed = _FNV_OFFSET
    for name in sorted(labels):  # code point order is UTF-8 byte order, as Go sorts
        for part in (name, labels[name]):
            for byte in part.encode("utf-8"):
                hashed = ((hashed ^ byte) * _FNV_PRIME) & _MASK64
            hashed = ((hashed ^ 0xFF) * _FNV_PRIME) & _MASK64
    return f"{hashed:016x}"


_INSTANT: TypeAdapter[datetime] = TypeAdapter(datetime)


def _read_instant(value: Any, where: str, notes: _Notes, *, zero: bool) -> datetime | None:
    """An instant in UTC, or None: absent, unreadable (noted), or the zero time when `zero`
    (Alertmanager's "no end")."""
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise ValueError("a boolean")
        parsed = _INSTANT.validate_python(value)
        if parsed.tzinfo is None:
            notes.add(f"{where} has no time zone: read as UTC")
            parsed = parsed.replace(tzinfo=UTC)
        if zero and parsed.year <= ZERO_TIME_YEAR:
            return None  # the zero time: no end
        if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
            raise ValueError("out of range")
        return parsed.astimezone(UTC)
    except (ValidationError, ValueError, OverflowError):
        notes.add(f"{where} {_short(value)} is not a time we can store")
        return None


def _read_version(value: Any, notes: _Notes) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = json.dumps(value)
    if not isinstance(value, str):
        notes.add(f"version {_short(value)} unreadable: read as version {SUPPORTED_VERSION}")
        return SUPPORTED_VERSION
    version = clean_text(value)
    if version != SUPPORTED_VERSION:
        notes.add(_version_warning(version))
    return version


def _read_group_key(value: Any, receiver: str, labels: Mapping[str, str], notes: _Notes) -> str:
    if isinstance(value, str) and value:
        key = clean_text(value)
    else:
        key = (
            f"{DERIVED_GROUP_KEY_PREFIX}{json.dumps(receiver, ensure_ascii=False)}:{{"
            + ", ".join(
                f"{name}={json.dumps(labels[name], ensure_ascii=False)}" for name in sorted(labels)
            )
            + "}"
        )
        notes.add(f"groupKey {_short(value)} unreadable: derived as {key[:200]!r}")
    if len(key) > MAX_GROUP_KEY:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        key = key[: MAX_GROUP_KEY - len(digest) - 8] + "…sha256:" + digest
        notes.add(f"groupKey longer than {MAX_GROUP_KEY} characters: shortened with its hash")
    return key


def _read_count(value: Any, notes: _Notes) -> int:
    """truncatedAlerts: a count in 0..MAX_TRUNCATED_ALERTS, whatever was sent."""
    if value is None:
        return 0
    count: int | None = None
    if isinstance(value, int):  # booleans included, as pydantic reads them
        count = int(value)
    elif isinstance(value, float) and not math.isnan(value):
        count = MAX_TRUNCATED_ALERTS if value == math.inf else 0 if value < 0 else int(value)
    elif isinstance(value, str):
        try:
            count = int(value.strip())
        except ValueError:
            count = None
    if count is None:
        notes.add(f"truncatedAlerts {_short(value)} unreadable: taken as 0")
        return 0
    clamped = max(0, min(MAX_TRUNCATED_ALERTS, count))
    if clamped != value:
        notes.add(f"truncatedAlerts {_short(value)} read as {clamped}")
    return clamped


def _shared_labels(alerts: list[AlertmanagerAlert]) -> dict[str, str]:
    """The labels every alert has with the same value (Alertmanager's commonLabels)."""
    if not alerts:
        return {}
    shared = dict(alerts[0].labels)
    for alert in alerts[1:]:
        shared = {k: v for k, v in shared.items() if alert.labels.get(k) == v}
        if not shared:
            break
    return shared


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlevel = 2
_SHORT.maxlist = _SHORT.maxdict = 4
_EXCERPT = reprlib.Repr()
_EXCERPT.maxstring = _EXCERPT.maxother = 200
_EXCERPT.maxlevel = 3


def _short(value: Any) -> str:
    """A repr for warnings: bounded, and escaped (no raw newlines)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**40:
        return f"<an integer of {len(str(abs(value)))} digits>"
    return _SHORT.repr(value)


def _excerpt(value: Any) -> str:
    if isinstance(value, str):
        return value[:200]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**40:
        return f"<an integer of {len(str(abs(value)))} digits>"
    return _EXCERPT.repr(value)
