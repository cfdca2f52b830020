"""Which generation each record goes to: the n-th occurrence of an objectId goes to generation n-1.

Memory is O(unique objectIds) — about 64 bytes per id (a set of 64-bit hashes, not the ids), e.g.
~64 MB for a million distinct ids; files themselves are streamed. Two different ids with the same
64-bit hash (odds ~n²/2^65, about 3e-8 for a million ids) only put the later one in a later
generation, which is still correct (never two updates of one id in a file, order kept).
"""

from __future__ import annotations

from collections.abc import Sequence


class Generations:
    def __init__(self) -> None:
        self._seen: set[int] = set()
        self._later: dict[int, int] = {}
        """Last generation of the ids seen more than once (usually few)."""

    def assign(self, object_id: str) -> int:
        key = hash(object_id)
        if key not in self._seen:
            self._seen.add(key)
            return 0
        generation = self._later.get(key, 0) + 1
        self._later[key] = generation
        return generation

    def assign_all(self, object_ids: Sequence[str]) -> list[int] | None:
        """Generations of a batch in order; ``None`` means "all 0" (the common case, set-fast)."""
        keys = set(map(hash, object_ids))
        if len(keys) == len(object_ids) and self._seen.isdisjoint(keys):
            self._seen |= keys
            return None
        return [self.assign(object_id) for object_id in object_ids]

    def release(self, object_id: str) -> None:
        """Undo the last :meth:`assign` of ``object_id`` (the record was rejected after all)."""
        key = hash(object_id)
        generation = self._later.get(key)
        if generation is None:
            self._seen.discard(key)
        elif generation == 1:
            del self._later[key]
        else:
            self._later[key] = generation - 1

    @property
    def count(self) -> int:
        """Number of generations so far."""
        if not self._seen:
            return 0
        return 1 + max(self._later.values(), default=0)
