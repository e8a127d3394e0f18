"""Swaps in Slack (story 3): a modal to ask, Take it / Decline in a DM, the first taker wins
for "anyone", and the hand-off after the swap announces the person who took it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slack_helpers import (
    RYAN,
    TAKA,
    Slack,
    deliver_slack,
    outbox_rows,
    selected,
    typed,
)
from sqlmodel import Session, col, select

from oncall.catalog.models import Rotation
from oncall.integrations.slack.actions import Action
from oncall.outbox import MessageKind
from oncall.rotations.handoffs import announce_handoffs_job
from oncall.rotations.models import Swap, SwapStatus

# Emily's next weekly shift starts Monday 9 March, 10:00 in New York (14:00 UTC, after DST).
EMILYS_SHIFT = "growth-primary|weekly|2026-03-09T14:00:00+00:00"
HAND_OFF = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)


def ask(slack: Slack, to: str, note: str = "my sister's wedding") -> None:
    response = slack.submit(
        "swap_modal", {"shift": selected(EMILYS_SHIFT), "to": selected(to), "note": typed(note)}
    )
    assert response.status_code == 200 and response.text == ""


def swaps(slack: Slack) -> list[Swap]:
    with Session(slack.engine) as s:
        return list(s.exec(select(Swap).order_by(col(Swap.id))))


def test_swap_opens_a_form_listing_the_askers_upcoming_shifts(slack: Slack) -> None:
    slack.command("swap")
    slack.stub.wait_for("views.open")
    (updated,) = slack.stub.wait_for("views.update")
    blocks = {b["block_id"]: b for b in updated["view"]["blocks"]}
    options = [o["value"] for o in blocks["shift"]["element"]["options"]]
    assert options[0] == EMILYS_SHIFT
    people = [o["value"] for o in blocks["to"]["element"]["options"]]
    assert people[0] == "*" and "emily" not in people and "ryan" in people


def test_asking_ryan_dms_him_take_it_and_decline_and_taking_it_changes_the_schedule(
    slack: Slack,
) -> None:
    ask(slack, "ryan")
    (confirm,) = slack.stub.wait_for("chat.postEphemeral")
    assert confirm["channel"] == "C0GROWTH01" and "I've asked <@U0RYAN0001>" in confirm["text"]
    (swap,) = swaps(slack)
    assert (swap.from_person_id, swap.to_person_id, swap.status) == ("emily", "ryan", "requested")

    deliver_slack(slack)
    (dm,) = slack.stub.calls("chat.postMessage")
    assert dm["channel"] == RYAN and "asks you to take their shift" in dm["text"]
    assert "my sister's wedding" in dm["text"]
    buttons = dm["blocks"][-1]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        (Action.swap_take, str(swap.id)),
        (Action.swap_decline, str(swap.id)),
    ]

    slack.press(
        Action.swap_take,
        str(swap.id),
        user=RYAN,
        channel="D0RYANDM01",
        container={"type": "message", "channel_id": "D0RYANDM01", "message_ts": "171.0001"},
    )
    (update,) = slack.stub.wait_for("chat.update")
    assert update["channel"] == "D0RYANDM01" and update["ts"] == "171.0001"
    assert "The shift is yours" in update["text"]
    assert swaps(slack)[0].status == SwapStatus.accepted
    slack.clock.set(HAND_OFF + timedelta(hours=1))
    assert "<@U0RYAN0001>" in slack.say("who growth-primary")
    assert "swapped" in slack.say("who growth-primary")
    deliver_slack(slack)
    posts = {p["channel"]: p["text"] for p in slack.stub.calls("chat.postMessage")}
    assert "<@U0RYAN0001> took your shift" in posts["U0EMILY001"]
    assert posts["C0GROWTH01"] == (
        ":handshake: *growth-primary*: <@U0RYAN0001> takes the shift of Mon 09 Mar 10:00 "
        "(America/New_York, weekly) from <@U0EMILY001>."
    )


def test_declining_tells_the_asker_and_changes_nothing(slack: Slack) -> None:
    ask(slack, "ryan")
    (swap,) = swaps(slack)
    slack.press(
        Action.swap_decline,
        str(swap.id),
        user=RYAN,
        channel=None,
        container={"type": "message", "channel_id": "D0RYANDM01", "message_ts": "1.2"},
    )
    (update,) = slack.stub.wait_for("chat.update")
    assert "You declined" in update["text"]
    assert swaps(slack)[0].status == SwapStatus.declined
    kinds = [r.payload["topic"] for r in outbox_rows(slack, MessageKind.direct_message)]
    assert kinds == ["swap_request", "swap_declined"]


def test_someone_else_cannot_take_a_swap_meant_for_ryan(slack: Slack) -> None:
    ask(slack, "ryan")
    (swap,) = swaps(slack)
    slack.press(Action.swap_take, str(swap.id), user=TAKA)
    (reply,) = slack.stub.wait_for("chat.postEphemeral", 2)[1:]
    assert "may not accept it" in reply["text"]
    assert swaps(slack)[0].status == SwapStatus.requested


def test_asking_anyone_the_first_to_take_it_gets_it_and_the_others_are_told(
    slack: Slack,
) -> None:
    ask(slack, "*")
    deliver_slack(slack)  # the two requests reach Ryan and Taka
    asked = swaps(slack)
    assert sorted(s.to_person_id for s in asked) == ["ryan", "taka"]
    for_taka = next(s for s in asked if s.to_person_id == "taka")
    for_ryan = next(s for s in asked if s.to_person_id == "ryan")
    slack.press(
        Action.swap_take,
        str(for_taka.id),
        user=TAKA,
        container={"type": "message", "channel_id": "D0TAKADM01", "message_ts": "1.1"},
    )
    slack.stub.wait_for("chat.update")
    statuses = {s.to_person_id: s.status for s in swaps(slack)}
    assert statuses == {"taka": "accepted", "ryan": "cancelled"}
    topics = {
        (r.payload["person"], r.payload["topic"])
        for r in outbox_rows(slack, MessageKind.direct_message)
    }
    assert ("ryan", "swap_gone") in topics and ("emily", "swap_taken") in topics
    slack.stub.clear()
    deliver_slack(slack)
    (gone,) = slack.stub.calls("chat.update")  # Ryan's request loses its buttons
    assert gone["channel"] == RYAN and gone["ts"] == "1700000000.000100"
    assert "Too late: <@U0TAKA0001> already took that shift" in gone["text"]
    assert all(b["type"] != "actions" for b in gone["blocks"])

    slack.clock.advance(timedelta(seconds=30))
    slack.press(
        Action.swap_take,
        str(for_ryan.id),
        user=RYAN,
        container={"type": "message", "channel_id": "D0RYANDM01", "message_ts": "1.2"},
    )
    updates = slack.stub.wait_for("chat.update", 2)
    assert "Too late: <@U0TAKA0001> already took this shift" in updates[-1]["text"]


def test_the_hand_off_after_a_swap_announces_who_took_it_and_sets_the_user_group(
    slack: Slack,
) -> None:
    with Session(slack.engine) as s:
        rotation = s.get(Rotation, "growth-primary")
        assert rotation is not None
        rotation.slack_usergroup = "S0GROWTHOC"
        s.add(rotation)
        s.commit()
    assert announce_handoffs_job(engine=slack.engine, now=slack.clock()) == 0  # first look
    ask(slack, "ryan")
    (swap,) = swaps(slack)
    slack.press(
        Action.swap_take,
        str(swap.id),
        user=RYAN,
        container={"type": "message", "channel_id": "D0RYANDM01", "message_ts": "1.2"},
    )
    slack.stub.wait_for("chat.update")
    before = HAND_OFF - timedelta(minutes=1)
    assert announce_handoffs_job(engine=slack.engine, now=before) == 0
    slack.stub.clear()
    deliver_slack(slack)
    slack.stub.clear()

    assert announce_handoffs_job(engine=slack.engine, now=HAND_OFF + timedelta(seconds=30)) == 1
    assert announce_handoffs_job(engine=slack.engine, now=HAND_OFF + timedelta(minutes=1)) == 0
    slack.clock.set(HAND_OFF + timedelta(minutes=1))
    deliver_slack(slack)
    posts = slack.stub.calls("chat.postMessage")
    channel = next(p for p in posts if p["channel"] == "C0GROWTH01")
    assert "<@U0RYAN0001> is now on call (was <@U0TAKA0001>)" in channel["text"]
    assert "No incidents are open." in channel["text"]
    dm = next(p for p in posts if p["channel"] == RYAN)
    assert "You are now on call" in dm["text"]
    (group,) = slack.stub.calls("usergroups.users.update")
    assert group == {"usergroup": "S0GROWTHOC", "users": RYAN}
