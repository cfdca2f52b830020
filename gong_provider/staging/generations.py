"""Which generation each record goes to: the n-th occurrence of an objectId goes to generation n-1.

The index holds 64-bit hashes of the objectIds, not the ids. The first ``FIRST_RECENT_MAX`` sit in
a Python set. Once there are more, the set moves (once) into an open-addressing hash table of
8-byte slots (``array('q')``, linear probing, at most ``MAX_LOAD`` full, doubled when fuller), and
every later hash goes straight into it, a block at a time.

Why a table and not what was here before (a recent set moved, 262,144 hashes at a time, into 65,536
small arrays behind a presence filter): each move read ints scattered over the heap and appended
them to arrays chosen at random, and each block's lookups went through several C passes plus a
bucket scan for one hash in seven the filter flagged, ~1.5 microseconds more per id than the set,
so staging 5 million records cost 1.6x per record what 1 million did. A probe of the table is one
slot read and a compare, ~0.5 microseconds per id in all, close to the set's cost.

Memory: ~64 bytes per distinct id up to ~1 million ids (the plain set); past that, the table:
64 MiB up to ~5.8 million ids, 128 MiB up to ~11.7 million, and so on. Files themselves are
streamed.

Two different ids with the same 64-bit hash (odds ~n²/2^65, about 3e-8 for a million ids) only put
the later one in a later generation, which is still correct (never two updates of one id in a file,
order kept). An empty slot holds 0, the hash of the empty string only, which is never an
objectId (validation rejects it before its record is assigned).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

FIRST_RECENT_MAX = 1 << 20
"""Distinct ids kept in the plain set before the move (~64 bytes each: up to ~70 MB), so that
files of up to a million distinct ids never build the table."""
FIRST_TABLE_BITS = 23
"""The table's first size: 2^23 slots (64 MiB), a quarter full after the move."""
MAX_LOAD = 0.7
"""The table doubles before it is fuller than this (linear probing slows down past it)."""
_EMPTY = 0
_RELEASED = -1
"""A released hash's slot: never a hash (CPython's ``hash`` never returns -1), skipped by probes."""


class Generations:
    def __init__(self) -> None:
        self._recent: set[int] = set()
        """The hashes while there are at most ``FIRST_RECENT_MAX`` (empty once they moved)."""
        self._table: array[int] | None = None
        """Every hash past the move (0 for an empty slot); None until the move."""
        self._mask = 0
        self._used = 0
        """Slots not empty (released ones included: they still lengthen probes)."""
        self._released = 0
        """Slots of released hashes."""
        self._later: dict[int, int] = {}
        """Last generation of the ids seen more than once (usually few)."""

    def _slot_of(self, key: int) -> int:
        """The slot holding ``key``, or -1; for the rare lookups outside a block."""
        assert self._table is not None
        table, mask = self._table, self._mask
        slot = key & mask
        value = table[slot]
        while value:
            if value == key:
                return slot
            slot = (slot + 1) & mask
            value = table[slot]
        return -1

    def _insert_new(self, keys: Sequence[int]) -> bool:
        """Insert every key and answer True when none was there yet (nor twice among them); else
        insert none (the ones just placed are taken out again, last first) and answer False."""
        assert self._table is not None
        self._make_room(len(keys))
        table, mask = self._table, self._mask
        for done, key in enumerate(keys):
            slot = key & mask
            value = table[slot]
            while value:
                if value == key:
                    for placed in reversed(keys[:done]):  # the last placed first: probes stay intact
                        if (at := self._slot_of(placed)) >= 0:  # (an empty string's 0 is not found)
                            table[at] = _EMPTY
                    return False
                slot = (slot + 1) & mask
                value = table[slot]
            table[slot] = key
        self._used += len(keys)
        return True

    def _make_room(self, count: int) -> None:
        """Double the table (re-inserting every hash) until ``count`` more keep it under ``MAX_LOAD``."""
        assert self._table is not None
        if self._used + count <= MAX_LOAD * len(self._table):
            return
        old = [key for key in self._table if key not in (_EMPTY, _RELEASED)]
        size = len(self._table)
        while len(old) + count > MAX_LOAD * size:
            size *= 2
        self._table = array("q", [_EMPTY]) * size
        self._mask, self._used, self._released = size - 1, 0, 0
        self._insert_new(old)

    def _move(self) -> None:
        """Move the set into the table once it holds ``FIRST_RECENT_MAX`` hashes (called before an
        assignment, never between an assignment and its :meth:`release`)."""
        if self._table is not None or len(self._recent) < FIRST_RECENT_MAX:
            return
        size = 1 << FIRST_TABLE_BITS
        self._table, self._mask = array("q", [_EMPTY]) * size, size - 1
        keys = list(self._recent)
        self._recent = set()
        self._insert_new(keys)

    def _seen(self, key: int) -> bool:
        if self._table is None:
            return key in self._recent
        return self._slot_of(key) >= 0

    def assign(self, object_id: str) -> int:
        self._move()
        key = hash(object_id)
        if not self._seen(key):
            if self._table is None:
                self._recent.add(key)
            else:
                self._insert_new([key])
            return 0
        generation = self._later.get(key, 0) + 1
        self._later[key] = generation
        return generation

    def assign_all(self, object_ids: Sequence[str]) -> list[int] | None:
        """Generations of a batch in order; ``None`` means "all 0" (the common case, set-fast)."""
        self._move()
        keys = list(map(hash, object_ids))
        if self._table is not None:
            if self._insert_new(keys):
                return None
        else:
            recent = self._recent
            if recent.isdisjoint(keys):
                before = len(recent)
                recent.update(keys)
                if len(recent) - before == len(keys):
                    return None
                recent.difference_update(keys)  # an id twice in the batch: all of it was new, undo
        return [self.assign(object_id) for object_id in object_ids]

    def release(self, object_id: str) -> None:
        """Undo the last :meth:`assign` of ``object_id`` (the record was rejected after all)."""
        key = hash(object_id)
        generation = self._later.get(key)
        if generation is None:
            if self._table is None:
                self._recent.discard(key)
            elif (slot := self._slot_of(key)) >= 0:
                self._table[slot] = _RELEASED
                self._released += 1
        elif generation == 1:
            del self._later[key]
        else:
            self._later[key] = generation - 1

    @property
    def count(self) -> int:
        """Number of generations so far."""
        stored = self._used > self._released if self._table is not None else bool(self._recent)
        return 1 + max(self._later.values(), default=0) if stored else 0
