"""Block Kit action ids: the buttons on Slack messages and the listeners that answer them.

The message builders put these ids on their buttons (the `value` is the incident id, or the
swap id for swap buttons); the Bolt app registers one listener per id."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    # The incident message (and the storm message, one set per incident listed).
    acknowledge = "incident_acknowledge"
    resolve = "incident_resolve"
    escalate = "incident_escalate"
    rca = "incident_rca"
    # Link buttons (runbook, incident page): Slack still sends an action when they are clicked.
    link = "incident_link"
    # Swaps: the other side answers a swap request.
    swap_take = "swap_take"
    swap_decline = "swap_decline"
    # App Home.
    home_swap = "home_swap"
    home_override = "home_override"
