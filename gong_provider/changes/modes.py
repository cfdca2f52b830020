"""The sync modes and the delete guard's default: constants only, so a DAG's Params import them at parse
time without loading change capture itself."""

from __future__ import annotations

from typing import Literal

SyncMode = Literal["upsert", "mirror", "full"]
SYNC_MODES: tuple[SyncMode, ...] = ("upsert", "mirror", "full")
DEFAULT_MAX_DELETE_RATIO = 0.05


def parse_sync_mode(value: object) -> SyncMode:
    """The one door of a sync mode (a Param, ``conf`` or a library argument): checked once, then
    carried as :data:`SyncMode`."""
    for mode in SYNC_MODES:
        if value == mode:
            return mode
    raise ValueError(f"sync mode must be one of {', '.join(SYNC_MODES)}, got {value!r}")
