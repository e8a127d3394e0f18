"""The webhook never refuses what it can read: the real Alertmanager payloads, mutated (fields
dropped or retyped, huge numbers and strings, hostile unicode, nested junk, damaged bytes),
posted to the real app. Never a 5xx; a 4xx only for an unusable envelope, and then nothing
changes; every well-formed alert of a delivery is stored."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers import ALERTMANAGER, count, payload
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from oncall.escalation.models import Escalation
from oncall.incidents.models import Alert, Incident, IncidentEvent
from oncall.outbox import OutboxMessage

URL = "/api/v1/alerts/alertmanager"
NAMES = sorted(
    p.stem for p in ALERTMANAGER.glob("*.json") if p.stem != "headers" and "." not in p.stem
)
FIXTURES = {name: payload(name) for name in NAMES}
# Posted first (when drawn) so that a resolving delivery finds its incident.
OPENED_BY = {
    "drift-resolved": "drift-firing",
    "drift-refiring": "drift-firing",
    "gpu-xid-partly-resolved": "gpu-xid-firing",
    "gpu-xid-resolved": "gpu-xid-firing",
    "batch-failure-resolved": "batch-failure-firing",
}
TABLES = (Incident, Alert, IncidentEvent, OutboxMessage, Escalation)
ALERT_FIELDS = ("status", "labels", "annotations", "startsAt", "endsAt", "generatorURL")
ALERT_FIELDS += ("fingerprint",)
MAPS = ("groupLabels", "commonLabels", "commonAnnotations")
# Where a mutation lands: mostly inside alerts; the whole body rarely (that is a 4xx).
WHERE = ["body"] + ["envelope"] * 2 + ["map"] * 2 + ["alert"] * 2 + ["field"] * 6 + ["item"] * 4
WHERE_FIRST = ["envelope", "alert", "field", "field", "item"]
MULTI_ALERT = [name for name in NAMES if len(FIXTURES[name]["alerts"]) > 1]

HOSTILE = [
    "",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\u202etxt.exe",
    "\u200b\ufeff",
    "<!channel> <@U123> <http://evil|click>",
    "{{ 7*7 }} {% raw %}",
    "line\nINFO forged log line",
    "データ基盤 🛠",
    '\\"',
    "firing",
    "resolved",
    "FIRING",
    "4",
    "-1",
    "2026-11-27T13:25:08.44Z",
    "2026-11-27T13:25:08",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2026-13-45T99:99:99Z",
    "x" * 70_000,
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**31, 2**63, 2**64, 2**70, -(2**70), 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(exclude_categories=()), max_size=30),
    st.sampled_from(HOSTILE),
)


def nested(depth: int) -> Any:
    value: Any = "deep"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


junk = st.one_of(
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=6,
    ),
    st.integers(min_value=150, max_value=300).map(nested),  # deeper than pydantic-core reads
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, Any]:
    """A fixture with 1-4 mutations: a field dropped or replaced by junk, at the envelope, a
    label map, an alert, an alert's field or an alert's label or annotation. The first one
    keeps the envelope usable, so that most deliveries take the lenient path with most of
    their alerts intact (where an alert is most easily lost)."""
    name = draw(st.sampled_from(NAMES + MULTI_ALERT))
    body: Any = copy.deepcopy(FIXTURES[name])
    for step in range(draw(st.integers(min_value=1, max_value=4))):
        where = draw(st.sampled_from(WHERE if step else WHERE_FIRST))
        body = mutate(draw, name, body, where, drop=draw(st.booleans()), keep_alerts=not step)
    return name, body


def mutate(
    draw: st.DrawFn, name: str, body: Any, where: str, *, drop: bool, keep_alerts: bool
) -> Any:
    if where == "body":
        return draw(junk)
    if not isinstance(body, dict):
        return body
    alerts = body.get("alerts")
    if where in ("alert", "field", "item") and isinstance(alerts, list) and alerts:
        index = draw(st.integers(min_value=0, max_value=len(alerts) - 1))
        if where == "alert":
            if drop:
                del alerts[index]
            else:
                alerts[index] = draw(junk)
            return body
        target, key = alerts[index], draw(st.sampled_from(ALERT_FIELDS))
        if where == "item" and isinstance(target, dict):
            target = target.get(draw(st.sampled_from(["labels", "annotations"])))
            if isinstance(target, dict):
                key = draw(st.sampled_from([*sorted(target), "new"]))
    elif where == "map":
        target = body.get(draw(st.sampled_from(MAPS)))
        key = draw(st.sampled_from([*sorted(target), "new"])) if isinstance(target, dict) else ""
    else:
        keys = [k for k in sorted(FIXTURES[name]) if k != "alerts" or not keep_alerts]
        target, key = body, draw(st.sampled_from([*keys, "new"]))
    if isinstance(target, dict):
        if drop:
            target.pop(key, None)
        else:
            target[key] = draw(junk)
    return body


RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)")
UNSAFE = re.compile("[\x00\ud800-\udfff]")


def instant(value: Any, *, zero_ok: bool = False) -> datetime | None:
    """An RFC 3339 time as the fixtures write it, that a database can store (years 2-9998)."""
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if zero_ok and parsed.year == 1:
        return parsed
    return parsed.astimezone(UTC) if 2 <= parsed.year <= 9998 else None


def texts(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def well_formed(alert: Any, *, ascii_body: bool) -> tuple[str, datetime] | None:
    """(fingerprint as stored, startsAt in UTC) when every field parses as in the fixtures."""
    if not isinstance(alert, dict):
        return None
    starts = instant(alert.get("startsAt"))
    fingerprint = alert.get("fingerprint")
    if starts is None or not isinstance(fingerprint, str):
        return None
    ok = (
        alert.get("status") in ("firing", "resolved")
        and texts(alert.get("labels"))
        and texts(alert.get("annotations", {}))
        and isinstance(alert.get("generatorURL", ""), str)
        and (
            "endsAt" not in alert
            or alert["endsAt"] is None
            or instant(alert["endsAt"], zero_ok=True)
        )
        and 1 <= len(fingerprint) <= 64
        # Raw (not escaped) lone surrogates are bytes no UTF-8 decoder keeps as they were.
        and (ascii_body or not re.search("[\ud800-\udfff]", fingerprint))
    )
    return (UNSAFE.sub("\ufffd", fingerprint), starts) if ok else None


def encode(body: Any, *, ascii_body: bool) -> bytes:
    if ascii_body:
        return json.dumps(body).encode()
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")


def rows(engine: Engine) -> tuple[int, ...]:
    return tuple(count(engine, table) for table in TABLES)


def forget_incidents(engine: Engine) -> None:
    with Session(engine) as s:
        for table in (OutboxMessage, IncidentEvent, Alert, Escalation, Incident):
            s.execute(delete(table))
        s.commit()


def check_a_mutated_delivery(
    client: TestClient, engine: Engine, case: tuple[str, Any], opened_first: bool, ascii_body: bool
) -> None:
    name, body = case
    forget_incidents(engine)
    if opened_first and name in OPENED_BY:
        assert client.post(URL, json=FIXTURES[OPENED_BY[name]]).status_code == 200
    before = rows(engine)
    response = client.post(
        URL,
        content=encode(body, ascii_body=ascii_body),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code < 500, response.text
    event(f"answered {response.status_code}")
    usable = isinstance(body, dict) and isinstance(body.get("alerts"), list)
    if not usable:
        assert response.status_code in (400, 422), response.text
        assert rows(engine) == before
        return
    assert response.status_code == 200, response.text
    result = response.json()
    alerts = body["alerts"]
    sent = [(a, well_formed(a, ascii_body=ascii_body)) for a in alerts]
    expected = {key: a["status"] for a, key in sent if key is not None}
    assert result["rejected"] <= len(alerts) - len([k for _, k in sent if k is not None])
    event(f"{len(expected)} of {len(alerts)} alerts well-formed, {result['rejected']} rejected")
    if result["incident_id"] is None:
        # Nothing opened: only when no alert fires (resolves of a group we never saw).
        assert "firing" not in expected.values(), result
        return
    with Session(engine) as s:
        stored = {
            (a.fingerprint, a.starts_at): a.status
            for a in s.exec(select(Alert).where(col(Alert.incident_id) == result["incident_id"]))
        }
    missing = set(expected) - set(stored)
    assert not missing, (result, missing)
    keys = [key for _, key in sent if key is not None]
    for key, status in expected.items():
        if keys.count(key) == 1:  # the same occurrence twice in a delivery: the first counts
            assert stored[key] == status, key


SETTINGS = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the database is emptied of incidents per example
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


@settings(SETTINGS, max_examples=100)
@given(case=mutated(), opened_first=st.booleans(), ascii_body=st.booleans())
def test_mutated_deliveries_never_lose_a_well_formed_alert_nor_answer_5xx(
    client: TestClient, catalog: Engine, case: tuple[str, Any], opened_first: bool, ascii_body: bool
) -> None:
    check_a_mutated_delivery(client, catalog, case, opened_first, ascii_body)


@pytest.mark.slow
@settings(SETTINGS, max_examples=1500)
@given(case=mutated(), opened_first=st.booleans(), ascii_body=st.booleans())
def test_many_more_mutated_deliveries(
    request: pytest.FixtureRequest,
    client: TestClient,
    catalog: Engine,
    case: tuple[str, Any],
    opened_first: bool,
    ascii_body: bool,
) -> None:
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the bigger fuzz run: pytest -m slow")
    check_a_mutated_delivery(client, catalog, case, opened_first, ascii_body)


@settings(SETTINGS, max_examples=60)
@given(
    name=st.sampled_from(NAMES),
    cuts=st.lists(
        st.tuples(st.floats(min_value=0, max_value=1), st.binary(max_size=3)),
        min_size=1,
        max_size=3,
    ),
)
def test_damaged_bytes_answer_200_or_a_4xx_that_changes_nothing(
    client: TestClient, catalog: Engine, name: str, cuts: list[tuple[float, bytes]]
) -> None:
    body = (ALERTMANAGER / f"{name}.json").read_bytes()
    for at, inserted in cuts:  # each cut replaces a few bytes at a spot
        spot = int(at * len(body))
        body = body[:spot] + inserted + body[spot + 3 :]
    forget_incidents(catalog)
    before = rows(catalog)
    response = client.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (200, 400, 422), response.text
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("alerts"), list):
        assert response.status_code == 200, response.text
    if response.status_code != 200:
        assert rows(catalog) == before
