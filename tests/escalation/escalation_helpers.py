"""Shared values of the escalation tests."""

from datetime import UTC, datetime

# A Tuesday in the example catalog's first year, in New York's daytime (as tests/conftest.py).
T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
