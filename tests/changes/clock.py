"""The change-capture state's wall clock (leases, the dates of mirror deletes), moved by a test."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gong_provider.changes import capture as capture_module
from gong_provider.changes import state as state_module

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = NOW
        monkeypatch.setattr(state_module, "utcnow", lambda: self.now, raising=False)
        monkeypatch.setattr(capture_module, "utcnow", lambda: self.now, raising=False)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
