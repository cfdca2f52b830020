"""The demo end to end (``scripts/demo.py``): wall time and Gong API calls spent.

Runs the demo exactly as ``make demo`` does, in a fresh process, and reads the figures it prints.
Prints one JSON document on stdout.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        return 1
    calls = re.search(r"Gong API calls spent: (\d+)", proc.stdout)
    result = {
        "wall_seconds": round(elapsed, 1),
        "target_seconds": 120,
        "gong_api_calls": int(calls.group(1)) if calls else None,
        "daily_budget": 10_000,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
