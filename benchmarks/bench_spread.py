"""Benchmark: how ``gong_crm_sync`` spreads several big entity types over workers, at 5M records each.

The sync stages each type in one ``stage`` task (one process, one core) and the types of a wave
(CONTACT, DEAL and LEAD come together) run at once on whatever worker slots are free. This stages
one export of N CONTACT records as 1 type, then as ``--types`` types at once, each in its own
process (as on separate worker slots), and reports the wall time of each set, every process's CPU
time, and the machine's cores: the wall time of a wave is its slowest type while there are at least
as many cores as types, and grows with types per core past that.

    python benchmarks/bench_spread.py --records 5000000 --types 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_STAGING = Path(__file__).resolve().with_name("bench_staging.py")


def stage_at_once(source: Path, work: Path, types: int) -> dict[str, Any]:
    """``types`` stage() processes of the same export at once; wall time and each one's figures."""
    began = time.perf_counter()
    children = [
        subprocess.Popen(
            [
                sys.executable,
                str(BENCH_STAGING),
                "--child-stage",
                str(source),
                str(work / f"out-{types}-{n}"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(types)
    ]
    results = [json.loads(child.communicate()[0]) for child in children]
    wall = time.perf_counter() - began
    if any(child.returncode for child in children):
        raise RuntimeError(f"a stage process failed: {[child.returncode for child in children]}")
    return {
        "types": types,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": [result["cpu_seconds"] for result in results],
        "records_per_type": results[0]["records"],
        "peak_rss_mb": max(result["peak_rss_mb"] for result in results),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=5_000_000)
    parser.add_argument("--types", type=int, default=3, help="types staged at once (a wave has up to 3)")
    parser.add_argument("--workdir", default=None, help="where the export is generated (kept if given)")
    args = parser.parse_args()
    sys.path.insert(0, str(BENCH_STAGING.parent))
    from bench_staging import generate

    with tempfile.TemporaryDirectory(prefix="bench-spread-") as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        source = work / f"contacts-{args.records}.jsonl"
        if not source.exists():
            generate(source, args.records)
        runs = [stage_at_once(source, Path(tmp), types) for types in sorted({1, args.types})]
    print(
        json.dumps(
            {
                "records_per_type": args.records,
                "input_mb_per_type": round(source.stat().st_size / 1e6, 1) if source.exists() else None,
                "cores": os.cpu_count(),
                "load_average": [round(load, 1) for load in os.getloadavg()],
                "runs": runs,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
