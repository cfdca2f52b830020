"""`make bench`'s staging benchmark on a tiny input: it runs, measures what it says, and renders.

No figure is asserted (speed is measured by `make bench`, never by a test): only that every run
happened on the whole input and that BENCHMARKS.md gets the floor rows the target is judged by.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECORDS = 2_000


def test_staging_benchmark_measures_stage_floors_and_baseline(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_staging.py"),
            "--records",
            str(RECORDS),
            "--scale",
            "0",
            "--repeat",
            "2",
            "--baseline-records",
            "100",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report = json.loads(result.stdout)

    assert report["staging"]["records"] == RECORDS
    assert report["staging"]["staged"] == RECORDS
    assert report["staging"]["runs"] == 2
    assert len(report["staging"]["all_mb_per_s_cpu"]) == 2
    assert set(report["floors"]) == {"io", "decode", "index"}
    for floor in report["floors"].values():
        assert floor["records"] == RECORDS
        assert floor["runs"] == 2
    assert report["baseline"]["records"] == 100
    assert report["staging_share_of_floor"] > 0

    from benchmarks.run_all import render_staging

    text = "\n".join(render_staging(report))
    assert "| staging, 1x |" in text
    assert "floor: + objectId set for duplicates" in text
    assert "best of 2" in text
