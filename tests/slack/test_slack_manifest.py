"""The shipped Slack app manifest points every request at the one endpoint and asks for the
scopes of the Web API methods the bot calls."""

from __future__ import annotations

from pathlib import Path

import yaml

from oncall.integrations.slack.commands import COMMAND

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "slack" / "manifest.yml"

# Web API method -> the bot scope it needs (Slack's method reference).
NEEDED = {
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "usergroups.users.update": "usergroups:write",
    "slash command": "commands",
}


def test_the_manifest_sends_commands_buttons_and_events_to_slack_events() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == COMMAND and command["should_escape"] is True
    settings = manifest["settings"]
    urls = {
        command["url"],
        settings["interactivity"]["request_url"],
        settings["event_subscriptions"]["request_url"],
    }
    assert len(urls) == 1 and urls.pop().endswith("/slack/events")
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert set(NEEDED.values()) <= scopes
