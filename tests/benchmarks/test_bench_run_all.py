"""`make bench` rewrites BENCHMARKS.md but keeps the figures that tests record (below FROM_TESTS)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_all() -> ModuleType:
    from benchmarks import run_all

    return run_all


def test_the_figures_from_tests_are_kept_as_they_are(
    run_all: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "BENCHMARKS.md"
    monkeypatch.setattr(run_all, "OUT", out)
    assert run_all.figures_from_tests() == ""  # no file yet
    out.write_text("# Benchmarks\n\n## Old figures\n\nstale\n", encoding="utf-8")
    assert run_all.figures_from_tests() == ""  # nothing recorded by tests
    kept = f"{run_all.FROM_TESTS}\n\n## From a test\n\n| a | b |\n"
    out.write_text(f"# Benchmarks\n\n## Old figures\n\nstale\n{kept}", encoding="utf-8")
    assert run_all.figures_from_tests() == f"\n{kept}"


def test_benchmarks_md_keeps_the_several_machines_budget_figures_below_the_line(run_all: ModuleType) -> None:
    text = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert text.index(run_all.FROM_TESTS) < text.index("## Gong budget on several machines")
