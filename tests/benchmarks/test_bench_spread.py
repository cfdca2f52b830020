"""`make bench`'s several-types benchmark on a tiny input: each process staged the export; it renders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECORDS = 2_000


def test_spread_benchmark_stages_one_type_then_several_at_once(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_spread.py"),
            "--records",
            str(RECORDS),
            "--types",
            "2",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    assert [run["types"] for run in report["runs"]] == [1, 2]
    assert [len(run["cpu_seconds"]) for run in report["runs"]] == [1, 2]
    assert {run["records_per_type"] for run in report["runs"]} == {RECORDS}

    from benchmarks.run_all import render_spread

    text = "\n".join(render_spread(report))
    assert "| 2 | " in text
    assert f"{RECORDS:,} CONTACT records" in text
