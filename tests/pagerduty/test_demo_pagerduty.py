"""`oncall demo` shows a page reaching PagerDuty (the console, as no routing key is set) and
an ack coming back from PagerDuty through a signed webhook into the real endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from oncall.db import make_engine
from oncall.demo import run_demo
from oncall.incidents.models import Incident


def test_the_demo_pages_pagerduty_and_takes_the_ack_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_demo(output=str(tmp_path))
    out = capsys.readouterr().out
    assert "PagerDuty: trigger dedup_key=oncall-2" in out
    assert "acknowledges in PagerDuty's app" in out
    assert "incident 2 acknowledged by pagerduty: Ryan Curtin" in out
    assert "| Acknowledged by pagerduty: Ryan Curtin" in out  # the Slack message shows it
    assert "PagerDuty: acknowledge dedup_key=oncall-2" not in out  # not echoed back
    engine = make_engine(f"sqlite:///{tmp_path / 'oncall.db'}")
    with Session(engine) as s:
        incident = s.get(Incident, 2)
        assert incident is not None
        assert (incident.status, incident.acknowledged_by) == (
            "acknowledged",
            "pagerduty: Ryan Curtin",
        )
    engine.dispose()
