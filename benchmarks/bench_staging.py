"""Staging throughput and memory: 1M realistic CONTACT records (JSON Lines) with full validation.

Measures, each in a fresh subprocess (so peak RSS is that run's own):
- ``staging``: ``gong_provider.staging.stage()`` on N records (default 1,000,000, about 314 MB);
- ``staging_scaled``: the same on 5x the records, to show that peak RSS stays bounded (the generation
  index keeps up to ~1M distinct objectIds in a set, then a hash table of 8-byte slots; see
  generations.py) and that the CPU cost per record does not grow much with size;
- ``baseline``: the naive way, stdlib ``json`` + ``jsonschema`` validation of the same rules, then
  ``json.dumps`` to an LDJSON file with sha256, on a subset (default 20,000 records), as MB/s;
- ``floors``: what any stager of this file must at least do, with no validation at all: ``io`` reads
  it in blocks of whole lines, counts them, hashes (sha256) and writes them; ``decode`` adds a msgspec
  typed decode of every record (types only: no format check); ``index`` adds the set of objectIds
  that duplicate detection needs. ``stage()`` can be no faster than ``index``; the gap is the cost
  of the format checks, the rejects bookkeeping and the sidecars.

The 1x staging run and the floors are repeated (``--repeat``, interleaved, so that a slow spell of
a shared machine hits them alike) and the best CPU time of each is reported.

Prints one JSON document on stdout (``make bench`` collects it). Wall-clock and CPU-time rates are
both given: on a shared 2-core machine the CPU-time rate is the honest "one core" figure.

    python benchmarks/bench_staging.py --records 1000000 --scale 5 --baseline-records 20000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FIRST = ["Maya", "Daniel", "Sofia", "Arjun", "Grace", "Pavel", "Tara", "Olga", "Ben", "Ines", "Mila", "Hiro"]
LAST = [
    "Okafor",
    "Reyes",
    "Lindqvist",
    "Mehta",
    "Petrov",
    "Oliveira",
    "Kowalski",
    "Tanaka",
    "Moreau",
    "Weber",
]
TITLES = ["VP Operations", "Analyst", "Data Engineer", "Head of Sales", "CFO", "Operations Manager"]

EMAIL = r'^[^@\s",;:<>()\[\]\\]+@[^@\s",;:<>()\[\]\\]+\.[^@\s",;:<>()\[\]\\]+$'
DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$"
CONTACT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["objectId", "modifiedDate"],
    "properties": {
        "objectId": {
            "type": "string",
            "maxLength": 64,
            "anyOf": [{"pattern": r"^[A-Za-z0-9_-]{1,64}$"}, {"pattern": EMAIL}],
        },
        "modifiedDate": {"type": "string", "pattern": DATETIME},
        "isDeleted": {"type": "boolean"},
        "url": {"type": "string", "pattern": r"^https?://[^\s/?#@]+([/?#]\S*)?$"},
        "accountId": {"type": "string", "minLength": 1},
        "emailAddress": {"type": "string", "pattern": EMAIL},
        "firstName": {"type": "string", "minLength": 1},
        "lastName": {"type": "string", "minLength": 1},
        "title": {"type": "string", "minLength": 1},
        "phoneNumber": {"type": "string", "minLength": 1},
    },
}


def generate(path: Path, records: int, seed: int = 7) -> int:
    """Realistic CONTACT export lines (~314 bytes each), already in Gong's form, as CRMs export them."""
    rng = random.Random(seed)
    written = 0
    with path.open("wb") as handle:
        block: list[str] = []
        for n in range(records):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            area, exchange, line = rng.randint(200, 999), rng.randint(200, 999), rng.randint(1000, 9999)
            phone = f"({area}) {exchange}-{line}"
            record = {
                "objectId": f"003{n:015d}",
                "modifiedDate": f"2026-{rng.randint(1, 9):02d}-{rng.randint(1, 28):02d}T"
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z",
                "url": f"https://crm.example.com/contacts/003{n:015d}",
                "accountId": f"001{n // 7:015d}",
                "emailAddress": f"{first.lower()}.{last.lower()}.{n}@company{n % 5000}.example",
                "firstName": first,
                "lastName": last,
                "title": rng.choice(TITLES),
                "phoneNumber": phone,
            }
            block.append(json.dumps(record, separators=(",", ":")))
            if len(block) == 10_000:
                text = "\n".join(block) + "\n"
                handle.write(text.encode())
                written += len(text)
                block.clear()
        if block:
            text = "\n".join(block) + "\n"
            handle.write(text.encode())
            written += len(text)
    return written


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child_stage(source: str, out_dir: str) -> dict[str, Any]:
    from gong_provider.staging import stage

    baseline_rss = peak_rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    manifest = stage(source, object_type="CONTACT", out_dir=out_dir)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "records": manifest.records_read,
        "staged": manifest.records_staged,
        "files": len(manifest.files),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_after_imports_mb": round(baseline_rss, 1),
    }


FLOOR_LEVELS = ("io", "decode", "index")


def child_floor(source: str, out_dir: str, level: str) -> dict[str, Any]:
    """The work any stager of ``source`` must do, without any validation (see the module docstring).

    Blocks come from the fast path's own reader; the struct has CONTACT's fields with bare types."""
    import msgspec

    from gong_provider.staging.fastpath import iter_blocks
    from gong_provider.staging.specs import Kind, spec_for

    fields = [
        (name, bool if spec.kind is Kind.BOOLEAN else str, *(() if spec.mandatory else (None,)))
        for name, spec in spec_for("CONTACT").fields.items()
    ]
    fields.sort(key=len)  # required fields first, as a struct needs
    decoder = msgspec.json.Decoder(msgspec.defstruct("Contact", fields, gc=False))
    digest = hashlib.sha256()
    seen: set[str] = set()
    records = 0
    wall, cpu = time.perf_counter(), time.process_time()
    with open(source, "rb") as src, open(Path(out_dir) / "floor.ldjson", "wb") as out:
        for _line, block, count in iter_blocks(src, max_line_bytes=1 << 30):
            assert isinstance(block, bytes)
            records += count
            if level != "io":
                decoded = decoder.decode_lines(block)
                if level == "index":
                    seen.update([record.objectId for record in decoded])
            digest.update(block)
            out.write(block)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "records": records,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def child_baseline(source: str, out_dir: str, records: int) -> dict[str, Any]:
    """The naive stager: json.loads + jsonschema per record, json.dumps, sha256 per line."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(CONTACT_SCHEMA)
    digest = hashlib.sha256()
    read = valid = size = 0
    wall, cpu = time.perf_counter(), time.process_time()
    with open(source, "rb") as src, open(Path(out_dir) / "baseline.ldjson", "w", encoding="utf-8") as out:
        for raw in src:
            if read >= records:
                break
            read += 1
            size += len(raw)
            record = json.loads(raw)
            errors = list(validator.iter_errors(record))
            if not errors:
                line = json.dumps(record) + "\n"
                out.write(line)
                digest.update(line.encode())
                valid += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "records": read,
        "valid": valid,
        "bytes": size,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def run_child(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=True, timeout=3600
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def rates(result: dict[str, Any], size: int) -> dict[str, Any]:
    mb = size / 1e6
    return {
        **result,
        "bytes": size,
        "mb_per_s": round(mb / result["seconds"], 1),
        "mb_per_s_cpu": round(mb / result["cpu_seconds"], 1),
        "records_per_s": round(result["records"] / result["seconds"]),
    }


def best_of(runs: list[dict[str, Any]], size: int) -> dict[str, Any]:
    """The run with the least CPU time, with every run's CPU MB/s and the highest peak RSS."""
    best = min(runs, key=lambda run: run["cpu_seconds"])
    return {
        **rates(best, size),
        "runs": len(runs),
        "all_mb_per_s_cpu": [round(size / 1e6 / run["cpu_seconds"], 1) for run in runs],
        "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--scale", type=int, default=5, help="also stage N x records for peak RSS (0: skip)")
    parser.add_argument("--baseline-records", type=int, default=20_000)
    parser.add_argument("--workdir", default=None, help="where inputs are generated (default: a temp dir)")
    parser.add_argument("--child-stage", nargs=2, metavar=("SOURCE", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--child-baseline", nargs=3, metavar=("SOURCE", "OUT", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--child-floor", nargs=3, metavar=("SOURCE", "OUT", "LEVEL"), help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the 1x staging and of each floor")
    args = parser.parse_args()
    if args.child_stage:
        print(json.dumps(child_stage(*args.child_stage)))
        return 0
    if args.child_floor:
        print(json.dumps(child_floor(*args.child_floor)))
        return 0
    if args.child_baseline:
        source, out, count = args.child_baseline
        print(json.dumps(child_baseline(source, out, int(count))))
        return 0

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-staging-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        source = work / f"contacts-{args.records}.jsonl"
        size = generate(source, args.records)
        stage_runs: list[dict[str, Any]] = []
        floor_runs: dict[str, list[dict[str, Any]]] = {level: [] for level in FLOOR_LEVELS}
        (work / "floor").mkdir(exist_ok=True)
        for _ in range(max(args.repeat, 1)):
            stage_runs.append(run_child("--child-stage", str(source), str(work / "out")))
            shutil.rmtree(work / "out", ignore_errors=True)
            for level in FLOOR_LEVELS:
                floor_runs[level].append(run_child("--child-floor", str(source), str(work / "floor"), level))
        staging = best_of(stage_runs, size)
        floors = {level: best_of(runs, size) for level, runs in floor_runs.items()}
        (work / "base").mkdir(exist_ok=True)
        baseline_raw = run_child(
            "--child-baseline", str(source), str(work / "base"), str(args.baseline_records)
        )
        baseline = rates(baseline_raw, baseline_raw["bytes"])
        results: dict[str, Any] = {
            "benchmark": "staging",
            "machine": {
                "platform": platform.platform(),
                "processor": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            },
            "staging": staging,
            "baseline": {**baseline, "what": "stdlib json + jsonschema (same rules), json.dumps, sha256"},
            "floors": floors,
            "staging_share_of_floor": round(staging["mb_per_s_cpu"] / floors["index"]["mb_per_s_cpu"], 2),
            "speedup_vs_baseline": round(staging["mb_per_s"] / baseline["mb_per_s"], 1),
            "speedup_vs_baseline_cpu": round(staging["mb_per_s_cpu"] / baseline["mb_per_s_cpu"], 1),
            "targets": {"mb_per_s": 150, "peak_rss_mb": 200},
        }
        source.unlink()
        if args.scale > 1:
            big = work / f"contacts-{args.records * args.scale}.jsonl"
            big_size = generate(big, args.records * args.scale)
            results["staging_scaled"] = {
                "scale": args.scale,
                **rates(run_child("--child-stage", str(big), str(work / "out")), big_size),
            }
            big.unlink()
        print(json.dumps(results, indent=2))
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
