"""The generation index: same answers as a plain counter, also once hashes move to the table."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from gong_provider.staging import generations
from gong_provider.staging.generations import Generations


@pytest.fixture(autouse=True)
def small_recent_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generations, "FIRST_RECENT_MAX", 80)
    monkeypatch.setattr(generations, "FIRST_TABLE_BITS", 7)  # 128 slots: the table doubles, several times


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
    assert index.assign("x5") == 1  # x5 now lives in the table
    assert index.assign("new") == 0
    index.release("new")
    index.release("x5")
    assert index.assign("new") == 0
    assert index.assign("x5") == 1
    index.release("x7")  # a first occurrence that moved to the table: forgotten
    assert index.assign("x7") == 0
    assert index.count == 2


def test_staged_bytes_are_the_same_whether_the_ids_sit_in_the_set_or_the_compact_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through stage()'s block fast path (small blocks, so the move happens early), with repeated
    ids and rejected records (whose assignment is released): every staged and rejected byte equals
    what the plain set alone (no move) stages."""
    from gong_provider.staging import fastpath, stage

    rng = random.Random(5)
    lines = []
    for n in range(4000):
        object_id = f"c{rng.randrange(1500)}"
        email = "not an email" if n % 97 == 0 else f"{object_id}.{n}@example.com"
        record = {"objectId": object_id, "modifiedDate": "2026-01-01T00:00:00Z", "emailAddress": email}
        lines.append(json.dumps(record) + "\n")
    source = tmp_path / "contacts.jsonl"
    source.write_text("".join(lines))
    monkeypatch.setattr(fastpath, "BLOCK_BYTES", 4096)

    def staged(out: Path) -> dict[str, bytes]:
        stage(str(source), object_type="CONTACT", out_dir=str(out), max_reject_ratio=1.0)
        return {p.name: p.read_bytes() for p in sorted(out.rglob("*.ldjson"))}

    compact = staged(tmp_path / "compact")
    monkeypatch.setattr(generations, "FIRST_RECENT_MAX", 10**9)
    plain = staged(tmp_path / "plain")
    assert compact == plain
    assert len(compact) > 3  # several generations and the rejects
