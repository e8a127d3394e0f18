"""`oncall outbox`: what is waiting to leave for Slack and PagerDuty, what failed for good,
and replaying a failed message once its cause is fixed."""

from __future__ import annotations

from typing import Any

import typer

from oncall.commands import common

app = typer.Typer(
    help="Side effects waiting to leave, and those that failed.", no_args_is_help=True
)


def _row(message: Any) -> dict[str, Any]:
    return {
        "id": message.id,
        "channel": message.channel,
        "kind": message.kind,
        "incident_id": message.incident_id,
        "created_at": message.created_at,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at,
        "claimed_by": message.claimed_by,
        "failed_at": message.failed_at,
        "last_error": message.last_error,
    }


@app.command("list")
def list_(
    failed: bool = typer.Option(False, "--failed", help="Rows that failed for good instead."),
    limit: int = typer.Option(200, "--limit", min=1),
    as_json: bool = common.JsonOption,
) -> None:
    """Rows not yet delivered (oldest first), or with --failed those that gave up."""
    from oncall.outbox import list_messages

    with common.session() as session:
        rows = list_messages(session=session, failed=failed, limit=limit)
        if as_json:
            common.emit_json([_row(m) for m in rows])
            return
        if not rows:
            typer.echo("nothing failed" if failed else "nothing waiting: the outbox is empty")
            return
        for m in rows:
            about = f"incident {m.incident_id}" if m.incident_id is not None else "-"
            when = (
                f"failed {m.failed_at:%Y-%m-%d %H:%M}Z"
                if m.failed_at
                else f"next try {m.next_attempt_at:%Y-%m-%d %H:%M:%S}Z"
            )
            typer.echo(
                f"#{m.id:<6} {m.channel:<9} {m.kind:<16} {about:<14} "
                f"attempts {m.attempts:<3} {when}" + (f"  {m.last_error}" if m.last_error else "")
            )


@app.command()
def retry(
    message_id: int = typer.Argument(..., help="Outbox row id (from `outbox list`)."),
) -> None:
    """Send a failed row again now (after fixing its cause, e.g. inviting the bot)."""
    from oncall.outbox import retry_message

    with common.domain_errors(), common.session() as session:
        row = retry_message(session=session, message_id=message_id, now=common.now())
        typer.echo(
            f"outbox #{row.id} ({row.channel} {row.kind}) will be sent again by the next worker run"
        )
