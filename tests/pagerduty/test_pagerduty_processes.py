"""Escalation that cannot be lost, against real `oncall serve` processes and the HTTPS
PagerDuty stub: a process killed with SIGKILL before a page is due is replaced and the page
goes out once, on time; two processes on PostgreSQL run the scheduled work in one of them,
hand it over when that one is killed, and send every PagerDuty event once."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pagerduty_stub import PagerDutyStub, oncall_env
from sqlalchemy.engine import Engine
from test_two_processes import Service, oncall, wait_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PAGE_AFTER = 30  # seconds: longer than a replacement takes to lead (lease TTL 15 s + 5 s)


def write_catalog(folder: Path, page_after: str) -> Path:
    catalog = yaml.safe_load((FIXTURES / "oncall.yaml").read_text())
    for policy in catalog["escalation_policies"]:
        if policy["id"] == "ds-default":
            policy["steps"] = [
                {"after": "0m", "notify": ["oncall"]},
                {"after": page_after, "notify": ["pagerduty"]},
            ]
    path = folder / "oncall.yaml"
    path.write_text(yaml.safe_dump(catalog))
    return path


def service_env(stub: PagerDutyStub, url: str, config: Path) -> dict[str, str]:
    env = {**os.environ, **oncall_env(stub)}
    env.update(ONCALL_DATABASE_URL=url, ONCALL_CONFIG=str(config), PYTHONUNBUFFERED="1")
    return env


def batch_failure(name: str = "batch-failure-firing") -> dict[str, object]:
    body: dict[str, object] = json.loads((FIXTURES / "alertmanager" / f"{name}.json").read_text())
    return body


def triggers(stub: PagerDutyStub, incident_id: int) -> list[float]:
    return [
        r.at
        for r in stub.accepted()
        if r.action == "trigger" and r.dedup_key == f"oncall-{incident_id}"
    ]


def test_a_page_due_after_a_sigkill_fires_once_on_time_from_the_next_process(
    tmp_path: Path, stub: PagerDutyStub
) -> None:
    config = write_catalog(tmp_path, f"{PAGE_AFTER}s")
    env = service_env(stub, f"sqlite:///{tmp_path / 'oncall.db'}", config)
    subprocess.run([*oncall(), "db", "upgrade"], env=env, check=True, capture_output=True)
    first = Service(env, tmp_path, "first")
    second: Service | None = None
    try:
        first.wait_ready()
        wait_for(lambda: "leads; it runs the scheduled jobs" in first.output(), 15, "a leader")
        incident_id = first.post(batch_failure())
        opened = time.monotonic()
        time.sleep(2)
        first.process.kill()  # SIGKILL: no shutdown, the scheduler lease is left to run out
        first.process.wait()
        assert stub.received == []  # the page was not due yet

        second = Service(env, tmp_path, "second")
        second.wait_ready()
        wait_for(lambda: triggers(stub, incident_id), PAGE_AFTER + 20, "the page")
        [paged_at] = triggers(stub, incident_id)
        delay = paged_at - opened
        # Due 30 s after the trigger; the job runs every 5 s and delivery is immediate.
        assert PAGE_AFTER - 1 <= delay <= PAGE_AFTER + 8, delay
        time.sleep(7)  # another run of the job and of the worker: still one page
        assert len(triggers(stub, incident_id)) == 1
        assert "leads; it runs the scheduled jobs" in second.output()
    finally:
        first.stop()
        if second is not None:
            second.stop()


@pytest.fixture
def pg_url(pg_engine: Engine) -> Iterator[str]:
    yield pg_engine.url.render_as_string(hide_password=False)


@pytest.mark.postgres
def test_two_processes_on_postgresql_share_the_work_and_send_each_event_once(
    tmp_path: Path, stub: PagerDutyStub, pg_url: str
) -> None:
    config = write_catalog(tmp_path, "3s")
    env = service_env(stub, pg_url, config)
    subprocess.run([*oncall(), "db", "upgrade"], env=env, check=True, capture_output=True)
    first = Service(env, tmp_path, "first")
    first.wait_ready()
    second = Service(env, tmp_path, "second")
    try:
        second.wait_ready()
        time.sleep(6)  # a leadership round on both
        logs = first.output() + second.output()
        assert logs.count("leads; it runs the scheduled jobs") == 1
        leader, standby = (first, second) if "leads" in first.output() else (second, first)

        # A webhook to the standby; the leader's job fires the page; either worker sends it.
        incident_id = standby.post(batch_failure())
        wait_for(lambda: triggers(stub, incident_id), 30, "the page")
        request = urllib.request.Request(
            f"http://127.0.0.1:{leader.port}/api/v1/incidents/{incident_id}/ack",
            data=json.dumps({"by": "ryan"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()
        stub.wait_for(2)

        leader.process.kill()  # SIGKILL: the standby must take over by itself
        leader.process.wait()
        wait_for(
            lambda: "leads; it runs the scheduled jobs" in standby.output(), 40, "the takeover"
        )
        later = standby.post(batch_failure("drift-firing"))  # churn: the same policy
        wait_for(lambda: triggers(stub, later), 30, "the page after the takeover")
        time.sleep(7)  # further runs of the job and the worker
        sent = Counter((r.action, r.dedup_key) for r in stub.accepted())
        assert sent == {
            ("trigger", f"oncall-{incident_id}"): 1,
            ("acknowledge", f"oncall-{incident_id}"): 1,
            ("trigger", f"oncall-{later}"): 1,
        }
    finally:
        first.stop()
        second.stop()
