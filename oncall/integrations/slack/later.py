"""Answers of `/oncall prs`, `rca`, `gpu` and `insights`, and of the RCA button: one function
each, so the readiness, RCA, GPU and insights services are wired in one place when they land.
"""

from __future__ import annotations

from oncall.integrations.slack.bot import Bot

NOT_YET = ":hourglass: {what} is not available yet in this version of oncall."


def prs(_bot: Bot, _person_id: str, args: list[str]) -> str:
    """`/oncall prs [model]`: Production Readiness Scores (oncall.readiness.service)."""
    return NOT_YET.format(what="The Production Readiness Score")


def rca(_bot: Bot, _person_id: str, args: list[str]) -> str:
    """`/oncall rca <id>` and the RCA button: the incident's RCA (oncall.rca.service)."""
    return NOT_YET.format(what="The RCA document")


def gpu(_bot: Bot, _person_id: str, args: list[str]) -> str:
    """`/oncall gpu`: GPU node health from Prometheus."""
    return NOT_YET.format(what="GPU node health")


def insights(_bot: Bot, _person_id: str, args: list[str]) -> str:
    """`/oncall insights [team]`: reliability trends."""
    return NOT_YET.format(what="Reliability insights")
