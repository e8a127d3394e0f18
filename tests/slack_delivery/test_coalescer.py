"""The coalescing window of a long-running process: held while inside it, and forgotten after,
so `oncall serve` does not remember every message it ever sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from oncall.clock import FrozenClock
from oncall.integrations.slack.delivery import PRUNE_ABOVE, Coalescer
from oncall.outbox import DeferredDelivery


def test_a_message_is_held_inside_its_window_and_free_after() -> None:
    clock = FrozenClock(datetime(2026, 3, 3, 15, 0, tzinfo=UTC))
    coalescer = Coalescer(clock, timedelta(seconds=3))
    coalescer.hold(("incident", 1))  # never sent: goes now
    coalescer.sent(("incident", 1))
    clock.advance(timedelta(seconds=1))
    with pytest.raises(DeferredDelivery) as held:
        coalescer.hold(("incident", 1))
    assert held.value.retry_after == timedelta(seconds=2)
    coalescer.hold(("incident", 2))  # another message is not held by this one
    clock.advance(timedelta(seconds=2))
    coalescer.hold(("incident", 1))


def test_a_year_of_messages_is_not_remembered_but_the_recent_ones_still_are() -> None:
    clock = FrozenClock(datetime(2026, 3, 3, 15, 0, tzinfo=UTC))
    coalescer = Coalescer(clock, timedelta(seconds=3))
    for n in range(20 * PRUNE_ABOVE):  # one message a second, each a new incident
        coalescer.sent(("incident", n))
        clock.advance(timedelta(seconds=1))
    assert len(coalescer) <= PRUNE_ABOVE + 1
    last = 20 * PRUNE_ABOVE - 1
    with pytest.raises(DeferredDelivery):  # sent a second ago: still inside its window
        coalescer.hold(("incident", last))
