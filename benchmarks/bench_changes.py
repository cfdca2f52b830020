"""Change capture: 1M CONTACT records, then a second export with 1% changed, 0.5% new, 0.5% deleted.

Each step runs in a fresh subprocess (peak RSS is its own):
- ``first``: the first mirror run (no state: everything is sent), committed as if Gong confirmed all;
- ``stage``: ``stage()`` alone on the second export (the baseline time);
- ``changes``: ``stage_changes()`` on the second export in mirror mode (staging plus the diff, the
  upload files and the plan), against the first run's state; must upload exactly 15,000 upserts
  and 5,000 deletes, in at most 1.25x the time of ``stage`` alone;
- ``commit``: that plan committed (every file DONE), then an unchanged rerun, which must upload nothing;
- ``truncated``: ``stage_changes()`` in mirror mode on an export cut to its first fifth (a truncated
  export): 80% of the confirmed keys look gone, the guard withholds every delete, and the peak RSS
  must stay under 200 MB (the withheld deletes are counted, never listed).
``stage`` and ``changes`` are repeated (interleaved) and the least CPU time of each is kept; each
change-capture step starts from a copy of the first run's state. The baseline for uploads is today's
behaviour: every staged file whose bytes changed is uploaded whole. ``--scale N`` repeats first,
changes and truncated at N x records for peak RSS only.

    python benchmarks/bench_changes.py --records 1000000 --scale 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_staging import generate, peak_rss_mb


def truncated_export(second: Path, truncated: Path, keep: int) -> None:
    """The first ``keep`` lines of ``second``: an export cut short."""
    with second.open("rb") as source, truncated.open("wb") as out:
        for number, line in enumerate(source):
            if number >= keep:
                break
            out.write(line)


def second_export(first: Path, second: Path, records: int) -> dict[str, int]:
    """1% of the records changed, 0.5% deleted (left out), 0.5% new (appended)."""
    changed = deleted = 0
    new_lines: list[bytes] = []
    with first.open("rb") as source, second.open("wb") as out:
        for number, line in enumerate(source):
            if number % 200 == 0:
                deleted += 1
                continue
            if number % 100 == 1:
                line = line.replace(b'"title":"', b'"title":"Senior ', 1)
                changed += 1
            if len(new_lines) < records // 200 and number % 200 == 2:
                new_lines.append(line.replace(b'"003', b'"009', 1))
            out.write(line)
        out.writelines(new_lines)
    return {"changed": changed, "deleted": deleted, "new": len(new_lines)}


def _options(state: str, out: str, run_key: str) -> dict[str, Any]:
    return {
        "object_type": "CONTACT",
        "out_dir": out,
        "state_base": state,
        "integration_id": 1,
        "run_key": run_key,
        "run_time": "2026-06-01T00:00:00Z",  # unused now (deletes dated when planned); older code needs it
        "mode": "mirror",
    }


def _measure(work: Any) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return {
        **result,
        "seconds": round(time.perf_counter() - wall, 3),
        "cpu_seconds": round(time.process_time() - cpu, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def _done(plan: Any) -> dict[str, Any]:
    from gong_provider.models import RequestState, RequestStatus

    return {f.path: RequestStatus(None, RequestState.DONE) for f in plan.files}


def child_first(source: str, out: str, state: str) -> dict[str, Any]:
    from gong_provider.changes import commit_changes, stage_changes

    def work() -> dict[str, Any]:
        plan = stage_changes(source, **_options(state, out, "first"))
        report = commit_changes(plan, _done(plan))
        return {"uploaded": plan.counts.records_uploaded, "live": report.live}

    return _measure(work)


def child_stage(source: str, out: str) -> dict[str, Any]:
    from gong_provider.staging import stage

    def work() -> dict[str, Any]:
        manifest = stage(source, object_type="CONTACT", out_dir=out)
        return {
            "records": manifest.records_read,
            "files": [[f.path, f.sha256, f.records] for f in manifest.files],
        }

    return _measure(work)


def child_changes(source: str, out: str, state: str, plan_path: str) -> dict[str, Any]:
    from gong_provider.changes import stage_changes

    def work() -> dict[str, Any]:
        plan = stage_changes(source, **_options(state, out, "second"))
        Path(plan_path).write_text(json.dumps(plan.to_dict()))
        counts = plan.counts
        return {
            "records": plan.manifest.records_read,
            "upserts": counts.records_uploaded - counts.deleted,
            "deletes": counts.deleted,
            "counts": counts.__dict__,
            "files": len(plan.files),
        }

    return _measure(work)


def child_truncated(source: str, out: str, state: str) -> dict[str, Any]:
    from gong_provider.changes import stage_changes

    def work() -> dict[str, Any]:
        plan = stage_changes(source, **_options(state, out, "truncated"))
        counts = plan.counts
        return {
            "records": plan.manifest.records_read,
            "uploaded": counts.records_uploaded,
            "deletes": counts.deleted,
            "deletes_withheld": counts.deletes_withheld,
            "guard": bool(plan.guard),
        }

    return _measure(work)


def child_commit(source: str, out: str, state: str, plan_path: str) -> dict[str, Any]:
    from gong_provider.changes import ChangePlan, commit_changes, stage_changes

    plan = ChangePlan.from_dict(json.loads(Path(plan_path).read_text()))
    commit = _measure(lambda: {"generation": commit_changes(plan, _done(plan)).generation})
    rerun = _measure(lambda: _rerun(stage_changes(source, **_options(state, out, "rerun"))))
    return {"commit": commit, "rerun": rerun}


def _rerun(plan: Any) -> dict[str, Any]:
    return {
        "uploaded": plan.counts.records_uploaded,
        "files": len(plan.files),
        "counts": plan.counts.__dict__,
    }


def run_child(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True, timeout=3600
    )
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--scale", type=int, default=0, help="also measure peak RSS at N x records (0: skip)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, *rest = args.child
        child: dict[str, Callable[..., dict[str, Any]]] = {
            "first": child_first,
            "stage": child_stage,
            "changes": child_changes,
            "commit": child_commit,
            "truncated": child_truncated,
        }
        print(json.dumps(child[name](*rest)))
        return 0

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-changes-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        results: dict[str, Any] = {
            "benchmark": "changes",
            "machine": {
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
            },
        }
        results["x1"] = measure_scale(work / "x1", args.records, args.repeat, full=True)
        if args.scale > 1:
            results["scaled"] = measure_scale(work / "scaled", args.records * args.scale, 1, full=False)
        results["machine"]["load_average"] = [round(x, 2) for x in os.getloadavg()]
        results["targets"] = {
            "ratio": 1.25,
            "peak_rss_mb": 200,
            "upserts": args.records * 15 // 1000,
            "deletes": args.records // 200,
        }
        print(json.dumps(results))
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def measure_scale(work: Path, records: int, repeat: int, *, full: bool) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    first, second = work / "first.jsonl", work / "second.jsonl"
    size = generate(first, records)
    edits = second_export(first, second, records)
    pristine, plan = work / "state-first", str(work / "plan.json")
    result: dict[str, Any] = {"records": records, "bytes": size, "edits": edits}
    result["first"] = run_child("first", str(first), str(work / "out-first"), str(pristine))
    first.unlink()

    def fresh_state() -> str:
        """A copy of the first run's state: each measured step starts from it, nothing in flight."""
        state = work / "state"
        shutil.rmtree(state, ignore_errors=True)
        shutil.copytree(pristine, state)
        return str(state)

    shutil.rmtree(work / "out-first", ignore_errors=True)
    stage_runs, change_runs = [], []
    for _ in range(max(repeat, 1)):
        if full:
            stage_runs.append(run_child("stage", str(second), str(work / "out-stage")))
        change_runs.append(run_child("changes", str(second), str(work / "out-changes"), fresh_state(), plan))
    result["changes"] = min(change_runs, key=lambda run: run["cpu_seconds"])
    result["changes"]["peak_rss_mb"] = max(run["peak_rss_mb"] for run in change_runs)
    if full:
        staged = min(stage_runs, key=lambda run: run["cpu_seconds"])
        baseline_files = staged.pop("files")
        result["stage"] = staged
        result["ratio_cpu"] = round(result["changes"]["cpu_seconds"] / staged["cpu_seconds"], 2)
        result["ratio_wall"] = round(result["changes"]["seconds"] / staged["seconds"], 2)
        result["all_ratios_cpu"] = [
            round(c["cpu_seconds"] / s["cpu_seconds"], 2)
            for c, s in zip(change_runs, stage_runs, strict=True)
        ]
        # today: every staged file whose bytes changed since the first run is uploaded whole
        result["baseline_upload"] = {
            "files": len(baseline_files),
            "records": sum(f[2] for f in baseline_files),
        }
        result["commit"] = run_child(
            "commit", str(second), str(work / "out-rerun"), str(work / "state"), plan
        )
    truncated = work / "truncated.jsonl"
    truncated_export(second, truncated, records // 5)
    result["truncated"] = run_child("truncated", str(truncated), str(work / "out-truncated"), fresh_state())
    return result


if __name__ == "__main__":
    raise SystemExit(main())
