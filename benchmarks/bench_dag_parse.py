"""Parse time of the DAG files (dags/: thin files calling gong_provider.dags' factories), as Airflow's
dag-processor sees it (target: < 100 ms each).

The dag-processor parses each file in a child of a process that has already imported Airflow, so
each measurement runs in a fresh interpreter that imports Airflow (and the Task SDK) first and then
times one ``DagBag`` fill of the file: "cold" includes importing this provider's modules, as every
parse in a fresh child does; "warm" re-parses in the same interpreter (modules already imported), which
is the cost of building the DAG itself; "provider_import" is the part of "cold" spent importing
gong_provider's operator and sensor modules (and with them requests and aiohttp), which only the sync
DAG's factory imports.
Prints one JSON document on stdout (median and max over several fresh interpreters).

    python benchmarks/bench_dag_parse.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAG_FILES = {
    "gong_crm_sync": ROOT / "dags" / "gong_crm_sync.py",
    "gong_crm_setup": ROOT / "dags" / "gong_crm_setup.py",
}
BUILDS_UPLOAD_TASKS = {"gong_crm_sync"}
"""The DAGs whose factory imports the provider's operator and sensor modules."""
TARGET_MS = 100.0

_CHILD = r"""
import json, sys, time
import airflow, airflow.sdk  # preloaded in the dag-processor
from airflow.dag_processing.dagbag import DagBag

path = sys.argv[1]
if sys.argv[2] == "import":  # only what the sync DAG imports from the provider, in a fresh interpreter
    start = time.perf_counter()
    import gong_provider.operators.gong, gong_provider.sensors.gong
    print(json.dumps({"provider_import_ms": (time.perf_counter() - start) * 1000}))
    raise SystemExit(0)
timings = []
for _ in range(2):
    start = time.perf_counter()
    bag = DagBag(dag_folder=path, safe_mode=False)
    timings.append((time.perf_counter() - start) * 1000)
    if bag.import_errors:
        raise SystemExit(json.dumps({"error": {str(k): str(v)[-500:] for k, v in bag.import_errors.items()}}))
print(json.dumps({"cold_ms": timings[0], "warm_ms": timings[1]}))
"""


def measure(path: Path, env: dict[str, str], mode: str = "parse") -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"parsing {path} failed: {result.stdout[-1000:]} {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per DAG file")
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
    results: dict[str, object] = {"target_ms": TARGET_MS, "runs": args.runs, "dags": {}}
    for dag_id, path in DAG_FILES.items():
        samples = [measure(path, env) for _ in range(args.runs)]
        cold = [s["cold_ms"] for s in samples]
        warm = [s["warm_ms"] for s in samples]
        provider = [
            measure(path, env, "import")["provider_import_ms"] if dag_id in BUILDS_UPLOAD_TASKS else 0.0
            for _ in range(args.runs)
        ]
        results["dags"][dag_id] = {  # type: ignore[index]
            "file": str(path.relative_to(ROOT)),
            "cold_median_ms": round(statistics.median(cold), 1),
            "cold_max_ms": round(max(cold), 1),
            "warm_median_ms": round(statistics.median(warm), 1),
            # of the cold time: importing gong_provider's operator and sensor (requests, aiohttp)
            "provider_import_median_ms": round(statistics.median(provider), 1),
            "under_target": statistics.median(cold) < TARGET_MS,
        }
    json.dump(results, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
