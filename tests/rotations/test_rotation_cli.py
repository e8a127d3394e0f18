"""The rotation commands against a database migrated as `oncall db upgrade` leaves it."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar
from rotation_helpers import EXAMPLE_CATALOG, T0, local
from typer.testing import CliRunner, Result

from oncall import migrate
from oncall.app import create_app
from oncall.cli import app
from oncall.clock import FrozenClock
from oncall.commands import common
from oncall.config import Settings
from oncall.db import make_engine

NY = "America/New_York"
R = "growth-primary"


@dataclass
class Cli:
    url: str
    tmp: Path

    def __call__(self, command: str, *more: str) -> Result:
        """`command` is split like a shell would; `more` are extra arguments as they are."""
        env = {"ONCALL_DATABASE_URL": self.url, "ONCALL_PUBLIC_URL": "https://oncall.test"}
        return CliRunner(env=env).invoke(app, [*shlex.split(command), *more])

    def json(self, command: str, *more: str) -> Any:
        result = self(command, *more, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    url = f"sqlite:///{tmp_path / 'oncall.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    monkeypatch.setattr(common, "now", lambda: T0)  # the commands' clock
    runner = Cli(url, tmp_path)
    applied = runner("config apply", str(EXAMPLE_CATALOG))
    assert applied.exit_code == 0, applied.output
    yield runner


def test_who_names_the_person_layer_and_hand_off(cli: Cli) -> None:
    result = cli(f"who --rotation {R}")
    assert result.exit_code == 0
    assert result.stdout.strip() == (
        "growth-primary: Taka Sato (taka), layer weekly, until Tue 2026-03-03 20:00 EST"
    )
    both = cli("who")
    assert "platform-primary:" in both.stdout and "growth-primary:" in both.stdout


def test_who_at_a_time_without_offset_reads_it_as_utc(cli: Cli) -> None:
    body = cli.json(f"who -r {R} --at 2026-03-10T15:00")
    assert body == {
        "at": "2026-03-10T15:00:00+00:00",
        "oncall": [
            {
                "rotation_id": R,
                "shift": {
                    "rotation_id": R,
                    "layer": "weekly",
                    "person_id": "emily",
                    "person_name": "Emily Curtin",
                    "start": "2026-03-10T08:00:00+00:00",
                    "end": "2026-03-11T00:00:00+00:00",
                    "source": "layer",
                    "shift_start": "2026-03-09T14:00:00+00:00",
                    "override_id": None,
                    "swap_id": None,
                },
            }
        ],
    }


def test_unknown_rotation_and_bad_times_fail_naming_the_value(cli: Cli) -> None:
    missing = cli("who --rotation x")
    assert missing.exit_code == 1 and "unknown rotation 'x'" in missing.stderr
    bad = cli("who --at soon")
    assert bad.exit_code == 1 and "'soon' is not an ISO 8601 time" in bad.stderr
    schedule = cli("schedule nope")
    assert schedule.exit_code == 1 and "unknown rotation 'nope'" in schedule.stderr


def test_schedule_lists_final_shifts_and_fairness(cli: Cli) -> None:
    text = cli(f"schedule {R} --days 1 --from 2026-03-09T14:00")
    assert text.exit_code == 0
    assert text.stdout.splitlines()[1:] == [
        "Mon 2026-03-09 10:00 EDT -> Mon 2026-03-09 20:00 EDT  emily      layer weekly",
        "Mon 2026-03-09 20:00 EDT -> Tue 2026-03-10 04:00 EDT  taka       layer follow-the-sun",
        "Tue 2026-03-10 04:00 EDT -> Tue 2026-03-10 10:00 EDT  emily      layer weekly",
    ]
    body = cli.json(f"schedule {R} --days 7 --from 2026-03-09T14:00 --fairness")
    loads = {p["person_id"]: p for p in body["people"]}
    # Emily's week minus Taka's five weeknights (8 h each).
    assert loads["emily"]["hours"] == 168 - 40
    assert loads["taka"]["hours"] == 40
    # Taka's nights in New York are Tokyo's daytime: 09:00-17:00, not night hours for Taka.
    assert loads["taka"]["night_hours"] == 0
    # Saturday 00:00-04:00 is Friday night's window (Taka's): Emily has 44 weekend hours.
    assert loads["emily"]["weekend_hours"] == 44


def test_override_add_list_remove(cli: Cli) -> None:
    created = cli.json(
        f"override add {R} --person ana --from 2026-03-04T00:00 --to 2026-03-04T12:00"
        " --note 'taka travels'"
    )
    assert created["created_by"] == "cli"
    who = cli.json(f"who -r {R} --at 2026-03-04T06:00")
    assert who["oncall"][0]["shift"]["person_id"] == "ana"
    listed = cli("override list")
    assert "ana" in listed.stdout and "taka travels" in listed.stdout
    removed = cli("override remove", str(created["id"]))
    assert removed.exit_code == 0
    assert cli.json("override list") == []
    assert len(cli.json("override list --all")) == 1
    again = cli("override remove", str(created["id"]))
    assert again.exit_code == 1 and "already removed" in again.stderr


def test_swap_request_reads_start_in_the_rotation_time_zone(cli: Cli) -> None:
    requested = cli(
        f"swap request {R} --layer weekly --start 2026-03-09T10:00 --from emily --to ryan"
    )
    assert requested.exit_code == 0, requested.output
    assert "shift 2026-03-09 10:00 America/New_York, emily -> ryan, requested" in requested.stdout
    accepted = cli("swap accept 1 --by ryan")
    assert accepted.exit_code == 0 and "accepted" in accepted.stdout
    who = cli.json(f"who -r {R} --at 2026-03-10T15:00")
    assert who["oncall"][0]["shift"]["person_id"] == "ryan"
    wrong = cli(f"swap request {R} --layer weekly --start 2026-03-09T15:00 --from ryan --to taka")
    assert wrong.exit_code == 1 and "no shift of layer 'weekly' starts at" in wrong.stderr


def test_swap_list_and_config_check_report_a_swap_an_edit_broke(cli: Cli) -> None:
    cli(f"swap request {R} --layer weekly --start 2026-03-09T10:00-04:00 --from emily --to ryan")
    assert cli("swap accept 1").exit_code == 0
    edited = cli.tmp / "edited.yaml"
    edited.write_text(
        EXAMPLE_CATALOG.read_text().replace("start: 2026-01-05T10:00", "start: 2026-01-05T09:00")
    )
    checked = cli("config check", str(edited))
    assert checked.exit_code == 0
    assert (
        "warning: swap 1 (growth-primary, layer 'weekly', shift 2026-03-09 10:00" in checked.stderr
    )
    assert "no longer applies" in checked.stderr
    applied = cli("config apply", str(edited))
    assert applied.exit_code == 0
    # Applying the edit tells both people that their swap no longer fits.
    assert "warning: swap 1 (growth-primary, layer 'weekly', shift 2026-03-09 10:00" in (
        applied.stderr
    )
    assert "(tell emily and ryan)" in applied.stderr
    listed = cli("swap list")
    assert (
        "NO LONGER APPLIES: no shift of layer 'weekly' starts at 2026-03-09 10:00" in listed.stdout
    )
    (item,) = cli.json("swap list")
    assert item["applies"] is False and item["problem"]


def test_calendar_export_writes_an_ics_file(cli: Cli) -> None:
    out = cli.tmp / "growth.ics"
    result = cli(f"calendar export --rotation {R} --from 2026-03-09 --to 2026-03-16 -o", str(out))
    assert result.exit_code == 0, result.output
    events = Calendar.from_ical(out.read_bytes()).walk("VEVENT")
    assert events and all("growth-primary" in str(e["SUMMARY"]) for e in events)
    personal = cli("calendar export --person taka --from 2026-03-09 --to 2026-03-10")
    assert personal.exit_code == 0 and "BEGIN:VCALENDAR" in personal.stdout
    neither = cli("calendar export")
    assert neither.exit_code == 1 and "--rotation R or --person P" in neither.stderr


def test_calendar_tokens_create_list_revoke_and_the_feed_follows(cli: Cli) -> None:
    created = cli.json("calendar token create --person emily")
    token, url = created["token"], created["url"]
    assert url == f"https://oncall.test/calendar/{token}.ics"
    text = cli(f"calendar token create --rotation {R}")
    assert "feed:  https://oncall.test/calendar/" in text.stdout
    both = cli(f"calendar token create --rotation {R} --person emily")
    assert both.exit_code == 1 and "exactly one" in both.stderr
    listed = cli.json("calendar token list")
    assert [t["person_id"] for t in listed] == ["emily", None]
    assert token not in json.dumps(listed)

    engine = make_engine(cli.url)
    service_app = create_app(
        Settings(ONCALL_DATABASE_URL=cli.url),
        engine=engine,
        clock=FrozenClock(T0),
        background=False,
    )
    with TestClient(service_app) as client:
        assert client.get(f"/calendar/{token}.ics").status_code == 200
        assert cli("calendar token revoke", str(created["id"])).exit_code == 0
        assert client.get(f"/calendar/{token}.ics").status_code == 404
    engine.dispose()


def test_feed_export_default_window_is_30_days_back_to_180_ahead(cli: Cli) -> None:
    result = cli("calendar export --rotation platform-primary")
    events = Calendar.from_ical(result.stdout.encode()).walk("VEVENT")
    starts = sorted(e.decoded("DTSTART") for e in events)
    ends = sorted(e.decoded("DTEND") for e in events)
    assert starts[0] == T0 - timedelta(days=30)
    assert ends[-1] == T0 + timedelta(days=180)
    assert isinstance(starts[0], datetime)
    assert local(NY, 2026, 3, 3, 10) == T0  # T0 is 10:00 in New York: a sanity anchor
