"""The sync modes and the delete guard's default: constants only, so a DAG's Params import them at parse
time without loading change capture itself."""

from __future__ import annotations

from typing import Literal

SyncMode = Literal["upsert", "mirror", "full"]
SYNC_MODES: tuple[str, ...] = ("upsert", "mirror", "full")
DEFAULT_MAX_DELETE_RATIO = 0.05
