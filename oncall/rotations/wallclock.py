"""Local wall time and UTC instants: the one rule for times that DST skips or repeats.

A local time happens at the first instant the clock shows that time or later: a repeated
time (autumn) means its first occurrence (zoneinfo `fold=0`); a skipped time (spring) means
the instant the clocks jump. The mapping never runs backwards, which keeps shifts and
windows in order.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def local_to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """The first instant at which the clock in `tz` shows `local` (naive) or later."""
    instant = local.replace(tzinfo=tz).astimezone(UTC)  # fold=0: first of a repeated time
    if instant.astimezone(tz).replace(tzinfo=None) == local:
        return instant
    # `local` falls in a spring-forward gap. fold=1 reads it with the offset after the jump,
    # which lands before the jump; bisect for the jump itself (transitions are whole seconds).
    low = math.floor(local.replace(tzinfo=tz, fold=1).timestamp())
    high = math.ceil(instant.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).replace(tzinfo=None) >= local:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def utc_to_local(instant: datetime, tz: ZoneInfo) -> datetime:
    """Naive local wall time of an instant."""
    return instant.astimezone(tz).replace(tzinfo=None)
