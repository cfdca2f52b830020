"""`make bench`'s SQL staging benchmark on a tiny input: it runs on a real PostgreSQL, both sources
stage every row to the same output, and it renders. No figure is asserted (speed is for `make bench`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECORDS = 3_000


def test_sql_staging_benchmark_runs_both_sources_and_renders() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_staging_sql.py"), "--records", str(RECORDS)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    assert report["identical_output"] is True
    for source in ("sql", "file"):
        assert report[source]["records"] == report[source]["staged"] == RECORDS
        assert report[source]["peak_rss_mb"] >= report[source]["rss_after_imports_mb"] > 0

    from benchmarks.run_all import render_staging_sql

    text = "\n".join(render_staging_sql(report))
    assert "| PostgreSQL, `SqlSource` | 3,000 |" in text
    assert "baseline: the same records from a JSON Lines file" in text
