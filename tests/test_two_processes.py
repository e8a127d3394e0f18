"""Two `oncall serve` processes on one SQLite file (an easy mistake): one leads and fires each
escalation step once, the other serves HTTP and stands by, and takes over when the leader dies."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlmodel import Session, select

from oncall.db import make_engine
from oncall.incidents.models import EventKind, IncidentEvent
from oncall.outbox import OutboxMessage

FIXTURES = Path(__file__).parent / "fixtures"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def oncall() -> list[str]:
    script = Path(sys.executable).with_name("oncall")
    return [str(script)] if script.exists() else [sys.executable, "-m", "oncall.cli"]


class Service:
    def __init__(self, env: dict[str, str], folder: Path, name: str) -> None:
        self.port = free_port()
        self.log = folder / f"{name}.log"
        self.process = subprocess.Popen(
            [*oncall(), "serve", "--port", str(self.port)],
            env=env,
            cwd=folder,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        raise AssertionError(f"not ready:\n{self.output()}")

    def post(self, body: dict[str, object]) -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1/alerts/alertmanager",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, int] = json.load(response)
            return answer["incident_id"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_for(check: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def two_services(tmp_path: Path) -> Iterator[tuple[Service, Service, str]]:
    # The example catalog with a policy that pages two seconds after the trigger.
    catalog = yaml.safe_load((FIXTURES / "oncall.yaml").read_text())
    for policy in catalog["escalation_policies"]:
        if policy["id"] == "ds-default":
            policy["steps"] = [
                {"after": "0m", "notify": ["oncall"]},
                {"after": "2s", "notify": ["pagerduty"]},
            ]
    config = tmp_path / "oncall.yaml"
    config.write_text(yaml.safe_dump(catalog))
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    env = {**os.environ, "ONCALL_DATABASE_URL": url, "ONCALL_CONFIG": str(config)}
    subprocess.run([*oncall(), "db", "upgrade"], env=env, check=True, capture_output=True)
    first = Service(env, tmp_path, "first")
    first.wait_ready()
    second = Service(env, tmp_path, "second")
    second.wait_ready()
    try:
        yield first, second, url
    finally:
        first.stop()
        second.stop()


def pages(url: str) -> list[OutboxMessage]:
    engine = make_engine(url)
    with Session(engine) as s:
        rows = list(s.exec(select(OutboxMessage).where(OutboxMessage.channel == "pagerduty")))
    engine.dispose()
    return rows


def escalations(url: str, incident_id: int) -> list[int]:
    engine = make_engine(url)
    with Session(engine) as s:
        rows = s.exec(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .where(IncidentEvent.kind == EventKind.escalated)
        ).all()
    engine.dispose()
    return [int(e.data["step"]) for e in rows]


def test_two_processes_on_one_sqlite_file_fire_one_escalation_once(
    two_services: tuple[Service, Service, str],
) -> None:
    first, second, url = two_services
    logs = first.output() + second.output()
    assert logs.count("leads; it runs the scheduled jobs") == 1
    assert "standing by" in logs

    body = json.loads((FIXTURES / "alertmanager" / "batch-failure-firing.json").read_text())
    incident_id = second.post(body)  # the standby takes webhooks like any process

    wait_for(lambda: any(p.delivered_at for p in pages(url)), 20, "the page to be delivered")
    time.sleep(6)  # a further run of the escalation job on the leader, and of both workers
    [page] = pages(url)
    assert (page.kind, page.attempts) == ("trigger", 1)
    assert sorted(escalations(url, incident_id)) == [0, 1]
    both = first.output() + second.output()
    assert both.count(f"PagerDuty: trigger dedup_key=oncall-{incident_id}") == 1


def test_the_standby_takes_over_when_the_leader_dies(
    two_services: tuple[Service, Service, str],
) -> None:
    first, second, url = two_services
    leader, standby = (first, second) if "leads" in first.output() else (second, first)
    leader.process.kill()  # no clean shutdown: the lease must run out by itself
    leader.process.wait()
    wait_for(
        lambda: "leads; it runs the scheduled jobs" in standby.output(), 40, "the standby to lead"
    )

    body = json.loads((FIXTURES / "alertmanager" / "batch-failure-firing.json").read_text())
    incident_id = standby.post(body)
    wait_for(lambda: sorted(escalations(url, incident_id)) == [0, 1], 20, "the page step")
