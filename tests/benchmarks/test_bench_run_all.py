"""`make bench` rewrites only its block of BENCHMARKS.md (between ``BEGIN`` and ``END``): the notes
measured by hand and the figures that tests record, outside it, are kept as they are."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
HAND_MEASURED = "Staging 1M against 5M records (issue 18 item 5)"


@pytest.fixture
def run_all() -> ModuleType:
    from benchmarks import run_all

    return run_all


def _bench_once(run_all: ModuleType, monkeypatch: pytest.MonkeyPatch, out: Path) -> str:
    """``make bench`` (``run_all.main``) on ``out``, one fake benchmark with a tiny result: what it wrote."""
    fake = ("fake", "A fake benchmark", ["benchmarks/bench_fake.py"], 1, lambda r: [f"| fake | {r['n']} |"])
    monkeypatch.setattr(run_all, "ROOT", out.parent)
    monkeypatch.setattr(run_all, "OUT", out)
    monkeypatch.setattr(run_all, "RAW", out.parent / ".bench" / "results.json")
    monkeypatch.setattr(run_all, "BENCHMARKS", [fake])
    monkeypatch.setattr(run_all, "run", lambda name, argv, timeout: ({"n": 7}, "", 0.1))
    monkeypatch.setattr("sys.argv", ["run_all.py"])
    assert run_all.main() == 0
    return out.read_text(encoding="utf-8")


def _outside_the_block(run_all: ModuleType, text: str) -> tuple[str, str]:
    start, end = run_all.generated_block(text)
    return text[:start], text[end:]


def test_make_bench_keeps_benchmarks_md_s_hand_written_text(
    run_all: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the real BENCHMARKS.md: the staging notes measured by hand (issue 18 item 5), the figures
    recorded by tests and everything else outside the block survive a run byte for byte; the block
    holds the new figures only."""
    current = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    out = tmp_path / "BENCHMARKS.md"
    out.write_text(current, encoding="utf-8")
    written = _bench_once(run_all, monkeypatch, out)
    assert HAND_MEASURED in written, "the hand-measured staging notes were lost"
    assert _outside_the_block(run_all, written) == _outside_the_block(run_all, current)
    start, end = run_all.generated_block(written)
    block = written[start:end]
    assert "## A fake benchmark" in block
    assert "| fake | 7 |" in block
    assert "## Staging 1M CONTACT records" not in block  # the old figures are replaced, not kept
    assert _bench_once(run_all, monkeypatch, out) == written  # a second run changes the block only


def test_benchmarks_md_s_hand_written_parts_are_outside_the_block(run_all: ModuleType) -> None:
    text = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    _, after = _outside_the_block(run_all, text)
    for hand_written in (HAND_MEASURED, "## Measured by hand", "## Gong budget on several machines"):
        assert hand_written in after


def test_a_new_file_gets_a_title_and_the_block(
    run_all: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = _bench_once(run_all, monkeypatch, tmp_path / "BENCHMARKS.md")
    assert written.startswith(f"{run_all.TITLE}\n\n{run_all.BEGIN}\n")
    assert written.endswith(f"| fake | 7 |\n\n{run_all.END}\n")


@pytest.mark.parametrize(
    "text",
    [
        "# Benchmarks\n\n## Old figures\n\nwritten by hand\n",  # no block
        "{END}\n{BEGIN}\n",  # out of order
        "{BEGIN}\n{END}\n{BEGIN}\n{END}\n",  # two blocks
    ],
)
def test_without_one_block_nothing_runs_and_nothing_is_written(
    run_all: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    out = tmp_path / "BENCHMARKS.md"
    out.write_text(text.format(BEGIN=run_all.BEGIN, END=run_all.END), encoding="utf-8")
    before = out.read_text(encoding="utf-8")
    ran: list[str] = []
    monkeypatch.setattr(run_all, "OUT", out)
    monkeypatch.setattr(run_all, "run", lambda name, argv, timeout: ran.append(name))
    monkeypatch.setattr("sys.argv", ["run_all.py"])
    with pytest.raises(ValueError, match="must hold, once each and in this order"):
        run_all.main()
    assert (ran, out.read_text(encoding="utf-8")) == ([], before)
