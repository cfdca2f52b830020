"""Fixtures of the change-capture tests."""

from __future__ import annotations

import pytest

from tests.changes.clock import Clock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The state's wall clock, moved by the test (leases expire, deletes are dated)."""
    return Clock(monkeypatch)
