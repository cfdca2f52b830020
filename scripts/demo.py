"""``make demo``: run gong_crm_sync on the sample CRM export against the local Gong CRM API emulator.

Everything stays on this machine: the emulator listens on 127.0.0.1 (a free port), Airflow uses a
SQLite database under ``.demo/airflow_home`` and runs the DAG in-process with ``airflow dags test``
(the deferred sensors are resumed in the same process). At the end it prints the DAG's report and
what the emulator stored per entity type, and exits non-zero if anything failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / ".demo"
DAG_ID = "gong_crm_sync"
ENTITY_TYPES = ("BUSINESS_USER", "STAGE", "ACCOUNT", "CONTACT", "DEAL", "LEAD")


def airflow_env(home: Path, emulator: Any, staging: Path, source: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_GONG_DEFAULT": emulator.connection_json(),
            "GONG_STAGING_BASE": str(staging),
            "GONG_CRM_SOURCE": str(source),
            "GONG_POLL_INTERVAL": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def run(command: list[str], env: dict[str, str], log_file: Path, timeout: float) -> int:
    """Run an Airflow CLI command, its output appended to the demo log."""
    with log_file.open("a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        try:
            return subprocess.run(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False
            ).returncode
        except subprocess.TimeoutExpired:
            log.write(f"timed out after {timeout} s\n")
            return 124


def run_steps(steps: list[tuple[str, list[str], float]], env: dict[str, str], log_file: Path) -> bool:
    for title, command, timeout in steps:
        print(f"* {title} ...", end=" ", flush=True)
        started = time.monotonic()
        code = run(command, env, log_file, timeout)
        print(f"{time.monotonic() - started:.0f} s", flush=True)
        if code != 0:
            print(f"  failed (exit code {code}); see {log_file}", file=sys.stderr)
            return False
    return True


def read_outcome(env: dict[str, str], dag_id: str, task_id: str, key: str) -> tuple[str | None, Any]:
    """State of the latest run of ``dag_id`` and one XCom of it, read from the demo's Airflow DB."""
    code = f"""
import json
from airflow.models.dagrun import DagRun
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from sqlalchemy import select
with create_session() as session:
    run = session.scalars(select(DagRun).where(DagRun.dag_id == {dag_id!r})
                          .order_by(DagRun.id.desc()).limit(1)).first()
    report = None
    if run is not None:
        row = session.scalars(select(XComModel).where(XComModel.dag_id == run.dag_id,
              XComModel.run_id == run.run_id, XComModel.task_id == {task_id!r},
              XComModel.key == {key!r})).first()
        report = XComModel.deserialize_value(row) if row is not None else None
    print(json.dumps({{"state": run.state if run else None, "value": report}}, default=str))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        return None, None
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return data["state"], data["value"]


def print_results(report: dict[str, Any] | None, emulator: Any, integration_id: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 120))
    if report:
        table = Table(title="gong_crm_sync report")
        columns = ["outcome", "records_read", "records_staged", "records_rejected", "records_uploaded"]
        columns += ["gong_success", "gong_errors"]
        table.add_column("type")
        for column in columns:
            table.add_column(column.replace("records_", "").replace("_", " "), justify="right")
        for object_type, row in report.items():
            table.add_row(object_type, *(str(row.get(column, "")) for column in columns))
        console.print(table)
    stored = Table(title=f"Stored by the Gong emulator (integration {integration_id})")
    for title in ("type", "records stored", "accepted updates", "sample objectIds"):
        stored.add_column(title)
    for object_type in ENTITY_TYPES:
        entities = emulator.client.entities(object_type, integration_id=integration_id)
        counts = emulator.client.record_counts(object_type, integration_id=integration_id)
        stored.add_row(
            object_type, str(len(entities)), str(sum(counts.values())), ", ".join(list(entities)[:3])
        )
    console.print(stored)
    calls = emulator.client.requests_log()
    console.print(f"Gong API calls spent: {len([c for c in calls if '/v2/crm/' in str(c.get('path'))])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT / "dags" / "data", help="folder of export files")
    parser.add_argument("--dry-run", action="store_true", help="stage and validate only")
    parser.add_argument(
        "--processing-delay", type=float, default=2.0, help="seconds the emulator takes per upload"
    )
    args = parser.parse_args()

    from gong_provider.emulator.process import EmulatorProcess

    started = time.monotonic()
    home = DEMO_DIR / "airflow_home"
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    home.mkdir(parents=True)
    log_file = DEMO_DIR / "demo.log"
    airflow = str(Path(sys.executable).with_name("airflow"))
    print(f"Demo workspace: {DEMO_DIR} (Airflow output in {log_file})")

    # The emulator starts with one registered integration, as gong_crm_setup would leave Gong
    # (the demo skips that DAG: each `airflow dags test` costs about half a minute of start-up).
    with EmulatorProcess(DEMO_DIR / "emulator", processing_delay=args.processing_delay) as emulator:
        print(f"Gong CRM API emulator on {emulator.url}, integration id {emulator.integration_id}")
        env = airflow_env(home, emulator, DEMO_DIR / "staging", args.source.resolve())
        steps: list[tuple[str, list[str], float]] = [
            ("Migrating the Airflow database (SQLite)", [airflow, "db", "migrate"], 300),
            (
                "Creating the gong_api pool",
                [airflow, "pools", "set", "gong_api", "3", "Gong API calls (3 per second)"],
                120,
            ),
        ]
        if not run_steps(steps, env, log_file):
            return 1
        integration_id = emulator.integration_id
        conf = {
            "integration_id": str(integration_id),
            "source": str(args.source.resolve()),
            "dry_run": args.dry_run,
        }
        sync = [airflow, "dags", "test", DAG_ID, "--conf", json.dumps(conf)]
        if not run_steps([("Running gong_crm_sync with `airflow dags test`", sync, 600)], env, log_file):
            return 1
        state, report = read_outcome(env, DAG_ID, "report", "report")
        print_results(report, emulator, int(integration_id))
        deferred = log_file.read_text(encoding="utf-8", errors="replace").count("running trigger in line")
        print(f"Waits deferred to a trigger and resumed in process: {deferred}")
    elapsed = time.monotonic() - started
    if state != "success":
        print(f"gong_crm_sync ended {state}; see {log_file}", file=sys.stderr)
        return 1
    print(f"Demo finished in {elapsed:.0f} s: gong_crm_sync succeeded.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
