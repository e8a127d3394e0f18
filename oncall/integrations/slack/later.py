"""Answers of `/oncall prs`, `rca`, `gpu` and `insights`, and of the RCA button.

`prs` and `rca` call the readiness and RCA services; `gpu` and `insights` say they are not
available yet. Each answer runs inside the request's transaction, before Slack's 3-second
limit, so none of them asks Prometheus: scores come from the stored snapshots (the leader takes
them daily and `oncall prs --snapshot` on demand), else from the declared evidence alone.
"""

from __future__ import annotations

from sqlmodel import Session

from oncall import links
from oncall.errors import InvalidRequest
from oncall.integrations.slack.bot import Bot
from oncall.integrations.slack.text import escape
from oncall.readiness import render
from oncall.readiness.models import ModelPRS
from oncall.readiness.service import model_prs, models_prs, prs_at, require_model

NOT_YET = ":hourglass: {what} is not available yet in this version of oncall."
# An ephemeral message is text; keep a table of many models readable and under Slack's limit.
MAX_TABLE_MODELS = 40


def _score(bot: Bot, session: Session, model_id: str) -> tuple[ModelPRS, str]:
    """The latest stored score of a model, else the declared evidence's, and which it is."""
    now = bot.now()
    stored = prs_at(session, model_id, at=now)
    if stored is not None:
        return stored, f"snapshot of {stored.at:%Y-%m-%d %H:%M} UTC"
    return model_prs(session, model_id, now=now), "declared evidence only (no snapshot yet)"


def prs(bot: Bot, session: Session, _person_id: str, args: list[str]) -> str:
    """`/oncall prs [model]`: the table of models, or one model's breakdown, top gaps first."""
    if len(args) > 1:
        raise InvalidRequest("give one model id at most")
    if args:
        require_model(session, args[0])
        score, source = _score(bot, session, args[0])
        lines = render.breakdown(score)
        return f"*Production Readiness Score* ({source})\n```{escape(chr(10).join(lines))}```"
    models = [p.model_id for p in models_prs(session, now=bot.now())]
    if not models:
        return "No models in the catalog yet: add them under `models:` in oncall.yaml."
    scores = [_score(bot, session, m)[0] for m in models[:MAX_TABLE_MODELS]]
    more = len(models) - len(scores)
    tail = f"\n…and {more} more: `oncall prs` lists them all." if more > 0 else ""
    table = "\n".join(render.table(scores))
    return (
        "*Production Readiness Score* (latest snapshots; `/oncall prs <model>` for the gaps)\n"
        f"```{escape(table)}```{tail}"
    )


def rca(bot: Bot, session: Session, _person_id: str, args: list[str]) -> str:
    """`/oncall rca <id>` and the RCA button: draft the RCA if it has none, then link it."""
    from oncall.rca import service as rca_service

    if len(args) != 1:
        raise InvalidRequest("give the incident's number, such as `/oncall rca 12`")
    try:
        incident_id = int(args[0].lstrip("#"))
    except ValueError:
        raise InvalidRequest(f"{args[0]!r} is not an incident number") from None
    public_url = bot.settings.public_url
    generated = rca_service.generate(
        session=session, incident_id=incident_id, now=bot.now(), public_url=public_url
    )
    document = generated.document
    items = rca_service.action_items_of(session=session, incident_id=incident_id)
    open_items = sum(1 for item in items if item.status == "open")
    url = links.rca_url(public_url, incident_id)
    how = "drafted it now" if generated.created else f"status *{document.status}*"
    return (
        f":memo: RCA of incident #{incident_id} ({how}): <{url}|open the RCA> "
        f"(Markdown: <{url}.md|rca-{incident_id}.md>). "
        f"{open_items} open action item(s) of {len(items)}."
    )


def gpu(_bot: Bot, _session: Session, _person_id: str, args: list[str]) -> str:
    """`/oncall gpu`: GPU node health from Prometheus."""
    return NOT_YET.format(what="GPU node health")


def insights(_bot: Bot, _session: Session, _person_id: str, args: list[str]) -> str:
    """`/oncall insights [team]`: reliability trends."""
    return NOT_YET.format(what="Reliability insights")
