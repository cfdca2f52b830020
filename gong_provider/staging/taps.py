"""Several staging taps on one :func:`~gong_provider.staging.stage` run (e.g. change capture's diff
and a reference check), each shown every staged line and reject."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gong_provider.staging.writer import Placement

if TYPE_CHECKING:
    from gong_provider.staging.pipeline import StagingTap


class TeeTap:
    """Forwards each call to every tap, in order."""

    def __init__(self, *taps: StagingTap) -> None:
        self.taps = taps

    def block(self, generation: int, placement: Placement, data: bytes, object_ids: Sequence[str]) -> None:
        for tap in self.taps:
            tap.block(generation, placement, data, object_ids)

    def record(self, generation: int, placement: Placement, line: bytes, object_id: str) -> None:
        for tap in self.taps:
            tap.record(generation, placement, line, object_id)

    def reject(self, object_id: str | None) -> None:
        for tap in self.taps:
            tap.reject(object_id)


def tee(*taps: StagingTap | None) -> StagingTap | None:
    """One tap for the given ones (None ones left out); None when there are none."""
    present = [tap for tap in taps if tap is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else TeeTap(*present)
