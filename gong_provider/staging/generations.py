"""Which generation each record goes to: the n-th occurrence of an objectId goes to generation n-1.

The index holds 64-bit hashes of the objectIds, not the ids. The first ``FIRST_RECENT_MAX``, then
the most recent ones (up to ``RECENT_MAX``), sit in a Python set; older ones are moved, a batch at
a time, into 8-byte arrays (65,536 of them, chosen by hash bits) behind a one-byte-per-slot presence
filter. Lookups of a whole block stay in C: the set, then the filter, then an exact scan of one
small array only for the few hashes the filter flags.

Memory: ~64 bytes per distinct id up to ~1 million ids (the plain set); past that, ~8 bytes per
older id, a fixed ~36 MB (the 32 MiB filter, the arrays' headers) and the recent set (~17 MB):
e.g. ~90 MB for 5 million distinct ids. Moving ids to the arrays costs ~1 microsecond per id, which is why
the first million stay in the set. Files themselves are streamed.

Two different ids with the same 64-bit hash (odds ~n²/2^65, about 3e-8 for a million ids) only put
the later one in a later generation, which is still correct (never two updates of one id in a file,
order kept). The filter never changes an answer: it only decides when to search the arrays.
"""

from __future__ import annotations

import sys
from array import array
from collections import deque
from collections.abc import Sequence
from itertools import compress, repeat
from operator import and_, rshift

FIRST_RECENT_MAX = 1 << 20
"""Distinct ids kept in the plain set before the first move (~64 bytes each: up to ~70 MB), so
that files of up to a million distinct ids never pay for a move."""
RECENT_MAX = 1 << 18
"""Once the arrays exist, the set holds at most this many (~17 MB) between moves."""
FILTER_BITS = 25
FILTER_MASK = (1 << FILTER_BITS) - 1
BUCKET_BITS = 16
_BUCKET_SHIFT = 40
_BUCKET_MASK = (1 << BUCKET_BITS) - 1
"""Arrays are chosen by bits 40-55 of the hash, independent of the filter's low bits."""


class Generations:
    def __init__(self) -> None:
        self._recent: set[int] = set()
        self._buckets: list[array[int]] | None = None
        """Older hashes, by bits of the hash (None until the first move)."""
        self._filter: bytearray | None = None
        """``_filter[key & FILTER_MASK]`` is 1 for every hash in the arrays (and a few others)."""
        self._later: dict[int, int] = {}
        """Last generation of the ids seen more than once (usually few)."""

    def _in_arrays(self, key: int) -> bool:
        """Exact: a byte search of the array's memory (``key in array`` makes an int of every
        element, ~3x slower), where only a match at a multiple of 8 is the hash itself."""
        if self._buckets is None:
            return False
        data = self._buckets[(key >> _BUCKET_SHIFT) & _BUCKET_MASK].tobytes()
        needle = key.to_bytes(8, sys.byteorder, signed=True)
        at = data.find(needle)
        while at > 0 and at % 8:  # straddling two hashes: not this one, look further
            at = data.find(needle, at + 1)
        return at >= 0

    def _seen(self, key: int) -> bool:
        if key in self._recent:
            return True
        return self._filter is not None and bool(self._filter[key & FILTER_MASK]) and self._in_arrays(key)

    def _compact(self) -> None:
        """Move the recent set into the arrays (called before an assignment, never between an
        assignment and its :meth:`release`); all in C, no sorting."""
        if len(self._recent) < (RECENT_MAX if self._buckets is not None else FIRST_RECENT_MAX):
            return
        if self._buckets is None or self._filter is None:
            self._buckets = [array("q") for _ in range(1 << BUCKET_BITS)]
            self._filter = bytearray(1 << FILTER_BITS)
        keys = list(self._recent)
        self._recent = set()
        deque(map(self._filter.__setitem__, map(and_, keys, repeat(FILTER_MASK)), repeat(1)), maxlen=0)
        buckets = map(
            self._buckets.__getitem__,
            map(and_, map(rshift, keys, repeat(_BUCKET_SHIFT)), repeat(_BUCKET_MASK)),
        )
        deque(map(array.append, buckets, keys), maxlen=0)

    def assign(self, object_id: str) -> int:
        self._compact()
        key = hash(object_id)
        if not self._seen(key):
            self._recent.add(key)
            return 0
        generation = self._later.get(key, 0) + 1
        self._later[key] = generation
        return generation

    def assign_all(self, object_ids: Sequence[str]) -> list[int] | None:
        """Generations of a batch in order; ``None`` means "all 0" (the common case, set-fast)."""
        self._compact()
        keys = list(map(hash, object_ids))
        recent = self._recent
        if recent.isdisjoint(keys) and not self._any_in_arrays(keys):
            before = len(recent)
            recent.update(keys)
            if len(recent) - before == len(keys):
                return None
            recent.difference_update(keys)  # an id twice in the batch: all of it was new, undo
        return [self.assign(object_id) for object_id in object_ids]

    def _any_in_arrays(self, keys: list[int]) -> bool:
        if self._filter is None:
            return False
        flagged = compress(keys, map(self._filter.__getitem__, map(and_, keys, repeat(FILTER_MASK))))
        return any(map(self._in_arrays, flagged))

    def release(self, object_id: str) -> None:
        """Undo the last :meth:`assign` of ``object_id`` (the record was rejected after all)."""
        key = hash(object_id)
        generation = self._later.get(key)
        if generation is None:
            if key in self._recent:
                self._recent.discard(key)
            elif self._in_arrays(key) and self._buckets is not None:
                self._buckets[(key >> _BUCKET_SHIFT) & _BUCKET_MASK].remove(key)
        elif generation == 1:
            del self._later[key]
        else:
            self._later[key] = generation - 1

    @property
    def count(self) -> int:
        """Number of generations so far."""
        if not self._recent and not (self._buckets and any(self._buckets)):
            return 0
        return 1 + max(self._later.values(), default=0)
