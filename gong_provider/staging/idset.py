"""A compact set of objectIds for reference checks: 8 bytes per id, built without sorting in Python.

An id is kept as its 64-bit xxh3 (:func:`id_key`). The keys are scattered into ``2**bits`` slots by
their top bits (one pass to count, one to place), with an offset table, so a lookup compares a few
keys in C. 5 million ids take 40 MB in memory (plus an 8 MB table); while a set is being filled the
keys go to a temporary file, so nothing but the finished set is held. Two different ids share a key
once in 2**64: a collision can hide a dangling reference, never invent one.
"""

from __future__ import annotations

import tempfile
from array import array
from collections.abc import Iterable
from typing import IO

import xxhash

from gong_provider.staging.outdir import OutputDir

_HEADER = b"GIDS1"
_CHUNK = 1 << 16


def id_key(object_id: str) -> int:
    """The objectId's 64-bit key (xxh3 of its UTF-8 bytes)."""
    return xxhash.xxh3_64_intdigest(object_id.encode())


def _bits_for(count: int) -> int:
    return max(4, min(20, count.bit_length() - 2))


class IdSet:
    """Membership of objectIds (by :func:`id_key`)."""

    def __init__(self, bits: int, starts: array[int], keys: array[int]) -> None:
        self.bits = bits
        self.shift = 64 - bits
        self.starts = starts
        self.keys = keys

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, object_id: object) -> bool:
        return isinstance(object_id, str) and self.has_key(id_key(object_id))

    def has_key(self, key: int) -> bool:
        slot = key >> self.shift
        return key in self.keys[self.starts[slot] : self.starts[slot + 1]]

    @classmethod
    def of(cls, object_ids: Iterable[str]) -> IdSet:
        builder = IdSetBuilder()
        try:
            for object_id in object_ids:
                builder.add(object_id)
            return builder.build()
        finally:
            builder.close()

    def save(self, folder: OutputDir, name: str) -> str:
        """Write the set (atomically) as ``name`` in ``folder``; returns its location."""
        target = folder.open_write(name)
        try:
            target.write(_HEADER + bytes([self.bits]))
            target.write(self.starts.tobytes())
            target.write(self.keys.tobytes())
            target.commit()
        except BaseException:
            target.abort()
            raise
        return folder.location(name)

    @classmethod
    def load(cls, folder: OutputDir, name: str) -> IdSet:
        """A set :meth:`save` wrote; ``FileNotFoundError`` when there is none."""
        with folder.open_read(name) as handle:
            data = handle.read()
        if not data.startswith(_HEADER):
            raise ValueError(f"{folder.location(name)} is not an id set")
        bits = data[len(_HEADER)]
        table = len(_HEADER) + 1 + ((1 << bits) + 1) * 8
        starts, keys = array("Q"), array("Q")
        starts.frombytes(data[len(_HEADER) + 1 : table])
        keys.frombytes(data[table:])
        return cls(bits, starts, keys)


class IdSetBuilder:
    """Collects keys in a temporary file, then builds the :class:`IdSet` in two passes over it."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="gong-ids-")  # noqa: SIM115 (closed by close())
        self._buffer = array("Q")
        self.count = 0

    def add(self, object_id: str) -> None:
        self.add_key(id_key(object_id))

    def add_key(self, key: int) -> None:
        self._buffer.append(key)
        self.count += 1
        if len(self._buffer) >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        self._file.write(self._buffer.tobytes())
        self._buffer = array("Q")

    def _chunks(self) -> Iterable[array[int]]:
        self._file.seek(0)
        while data := self._file.read(_CHUNK * 8):
            chunk = array("Q")
            chunk.frombytes(data)
            yield chunk

    def build(self) -> IdSet:
        """The set of every key added (duplicates kept: they change no answer)."""
        self._flush()
        self._file.flush()
        bits = _bits_for(self.count)
        shift = 64 - bits
        counts = array("Q", bytes(((1 << bits) + 1) * 8))
        for chunk in self._chunks():
            for key in chunk:
                counts[(key >> shift) + 1] += 1
        for slot in range(1, len(counts)):
            counts[slot] += counts[slot - 1]
        starts = array("Q", counts)
        keys = array("Q", bytes(self.count * 8))
        for chunk in self._chunks():
            for key in chunk:
                slot = key >> shift
                keys[counts[slot]] = key
                counts[slot] += 1
        return IdSet(bits, starts, keys)

    def close(self) -> None:
        self._file.close()

    def __del__(self) -> None:
        if not self._file.closed:
            self._file.close()
