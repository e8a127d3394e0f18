"""The Slack endpoint: one Bolt app built at start-up, signatures verified, unknown people
told how to be added, errors polite and without stack traces."""

from __future__ import annotations

import time

import pytest
from slack_helpers import EMILY, STRANGER, Slack

from oncall.integrations.slack import commands


def test_the_app_verifies_its_token_with_auth_test_once_at_start_up(slack: Slack) -> None:
    assert slack.stub.methods().count("auth.test") == 1
    slack.say("who")
    slack.say("help")
    assert slack.stub.methods().count("auth.test") == 1


@pytest.mark.parametrize(
    "how",
    [
        {"signed": False},
        {"secret": "not-the-signing-secret"},
        {"timestamp": int(time.time()) - 6 * 60},  # six minutes old: a replay
    ],
    ids=["unsigned", "bad-signature", "stale"],
)
def test_requests_that_slack_did_not_sign_just_now_get_401_and_change_nothing(
    slack: Slack, how: dict[str, object]
) -> None:
    response = slack.command("ack 1", **how)  # type: ignore[arg-type]
    assert response.status_code == 401
    assert slack.stub.methods() == ["auth.test"]


def test_a_slack_user_not_in_the_catalog_is_told_how_to_be_added(slack: Slack) -> None:
    text = slack.say("who", user=STRANGER)
    assert "oncall.yaml" in text and "slack_user: U0NOBODY01" in text
    assert "Traceback" not in text


def test_help_lists_every_subcommand_with_its_usage(slack: Slack) -> None:
    text = slack.say("help")
    for sub in commands.SUBCOMMANDS.values():
        assert f"`/oncall {sub.usage}`" in text
    assert slack.say("") == text  # a bare /oncall is help


def test_an_unknown_subcommand_answers_with_the_list(slack: Slack) -> None:
    text = slack.say("frobnicate now")
    assert "I don't know `frobnicate`" in text
    assert "`/oncall who [rotation]`" in text


def test_an_unexpected_failure_is_logged_and_the_person_sees_no_stack_trace(
    slack: Slack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**_kw: object) -> None:
        raise RuntimeError("database exploded: secret detail")

    monkeypatch.setattr(commands, "current_shift", broken)
    text = slack.say("who", user=EMILY)
    assert "Something went wrong" in text and "logged" in text
    assert "secret detail" not in text
    assert "database exploded" in caplog.text
