"""The generation index: same answers as a plain counter, also once hashes move to the compact arrays."""

from __future__ import annotations

import random
import sys
from array import array
from collections import Counter

import pytest

from gong_provider.staging import generations
from gong_provider.staging.generations import Generations


@pytest.fixture(autouse=True)
def small_recent_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generations, "FIRST_RECENT_MAX", 80)
    monkeypatch.setattr(generations, "RECENT_MAX", 50)


def test_generations_match_a_counter_across_compactions() -> None:
    rng = random.Random(3)
    ids = [f"id-{rng.randrange(400)}" for _ in range(3000)]
    index = Generations()
    seen: Counter[str] = Counter()
    got: list[int] = []
    for start in range(0, len(ids), 37):
        batch = ids[start : start + 37]
        answer = index.assign_all(batch)
        got.extend(answer if answer is not None else [0] * len(batch))
    expected = []
    for object_id in ids:
        expected.append(seen[object_id])
        seen[object_id] += 1
    assert got == expected
    assert index.count == max(seen.values())


def test_distinct_batches_stay_on_the_fast_answer_and_release_undoes() -> None:
    index = Generations()
    for start in range(0, 1000, 100):
        assert index.assign_all([f"x{n}" for n in range(start, start + 100)]) is None
    assert index.assign("x5") == 1  # x5 now lives in the compact arrays
    assert index.assign("new") == 0
    index.release("new")
    index.release("x5")
    assert index.assign("new") == 0
    assert index.assign("x5") == 1
    index.release("x7")  # a first occurrence that moved to the arrays: forgotten
    assert index.assign("x7") == 0
    assert index.count == 2


def test_a_byte_match_straddling_two_hashes_is_not_a_hash_of_the_arrays() -> None:
    """The arrays are searched as bytes: only a match on a hash's own 8 bytes counts."""
    index = Generations()
    for n in range(200):  # past the first move: the arrays exist
        index.assign(f"s{n}")
    first, second = 0x0102030405060708, 0x1112131415161718
    straddling = int.from_bytes(array("q", [first, second]).tobytes()[4:12], sys.byteorder, signed=True)
    assert index._buckets is not None
    bucket = index._buckets[(straddling >> generations._BUCKET_SHIFT) & generations._BUCKET_MASK]
    bucket.extend([first, second])
    assert not index._in_arrays(straddling)
    bucket.append(straddling)
    assert index._in_arrays(straddling)
