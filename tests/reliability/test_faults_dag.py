"""Faults 1-4 of the matrix against the whole gong_crm_sync DAG on the sample CRM export.

The DAG runs as ``make demo`` runs it (``airflow dags test gong_crm_sync``, a private AIRFLOW_HOME
whose dags folder is the product's ``dags/``), against the session emulator:

- faults 1-3 in one run, all on the first upload of the run: 500, 502, 503, then the upload is stored
  but the connection dropped, then a 429; plus a 429 storm on request-status while the deferred
  sensors poll. The run succeeds and Gong stored every record of the export exactly once.
- fault 4: the worker process is SIGKILLed while Gong holds its first upload but has not answered;
  the scheduler's retry of that task (try 2, same run, driven by ``continue_run`` in a new process)
  finishes the run with one upload per file.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from tests.support.faults import (
    ENTITIES,
    REQUEST_STATUS,
    connection_json,
    gong,
    kill_when,
    poll,
    pycache,
)
from tests.support.paths import importing_tests
from tests.support.sync_dag import (
    ROOT,
    SYNC_DAG_ID,
    SyncDag,
    inspect_sync_db,
    new_sync_home,
    run_sync_dag,
    sync_template,
)

__all__ = ["gong", "pycache", "sync_template"]  # fixtures used here

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SAMPLE_DATA = ROOT / "dags" / "data"
TYPES = ("BUSINESS_USER", "STAGE", "ACCOUNT", "CONTACT", "DEAL", "LEAD")


def expected_record_counts() -> dict[str, dict[str, int]]:
    """Per type, how many updates of each objectId the sample export holds (a deal updated twice: 2)."""
    counts: dict[str, dict[str, int]] = {}
    for path in sorted(SAMPLE_DATA.iterdir()):
        object_type = {
            "business_users": "BUSINESS_USER",
            "stages": "STAGE",
            "accounts": "ACCOUNT",
            "contacts": "CONTACT",
            "deals": "DEAL",
            "leads": "LEAD",
        }.get(path.name.split(".")[0])
        if object_type is None:
            continue
        with path.open(encoding="utf-8") as handle:
            if path.suffix == ".csv":
                ids = [row["objectId"] for row in csv.DictReader(handle)]
            else:
                ids = [json.loads(line)["objectId"] for line in handle if line.strip()]
        counts[object_type] = dict(Counter(ids))
    assert set(counts) == set(TYPES)
    return counts


def assert_export_stored_exactly_once(client: EmulatorClient) -> None:
    for object_type, expected in expected_record_counts().items():
        assert client.record_counts(object_type) == expected, object_type
    counts = client.upload_counts()
    assert counts
    assert set(counts.values()) == {1}, counts


@pytest.mark.floor  # `airflow dags test gong_crm_sync` on the sample export, as make demo runs it
def test_faults_1_to_3_in_one_run_of_the_whole_dag(
    gong: EmulatorClient, emulator: EmulatorProcess, sync_template: Path, pycache: Path, tmp_path: Path
) -> None:
    for status in (500, 502, 503):
        gong.inject_fault("status", status=status, path=ENTITIES, method="POST")
    gong.inject_fault("drop_after_store", path=ENTITIES, method="POST")
    gong.inject_fault("status", status=429, retry_after=1, path=ENTITIES, method="POST")
    gong.inject_fault("status", status=429, retry_after=1, count=3, path=REQUEST_STATUS, method="GET")
    home = new_sync_home(sync_template, tmp_path / "airflow_home")
    result = run_sync_dag(
        home,
        pycache,
        emulator,
        {"source": str(SAMPLE_DATA)},
        connection=connection_json(emulator, max_retries=8),  # six attempts of one upload, by design
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert [run["state"] for run in inspect_sync_db(home, pycache)["runs"]] == ["success"]
    assert gong.faults() == []  # every fault was met

    log = gong.requests_log()
    first = next(call for call in log if call["path"] == ENTITIES and call["method"] == "POST")
    attempts = [c for c in log if c["path"] == ENTITIES and c["clientRequestId"] == first["clientRequestId"]]
    assert [(c["status"], bool(c["dropped"])) for c in attempts] == [
        (500, False),
        (502, False),
        (503, False),
        (201, True),
        (429, False),
        (409, False),
    ]
    assert [c["status"] for c in log if c["path"] == REQUEST_STATUS].count(429) == 3
    assert_export_stored_exactly_once(gong)


CONTINUE_RUN = """
import json, sys
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag
from tests.support.faults import continue_run, mark_for_retry
dag = BundleDagBag(dag_folder=sys.argv[1], bundle_path=Path(sys.argv[1])).dags[sys.argv[2]]
retried = mark_for_retry(dag.dag_id, sys.argv[3], None)
result = continue_run(dag, sys.argv[3])
print("RUN-RESULT " + json.dumps({"state": result.state, "retried": retried, "tis": {
    f"{task_id}[{map_index}]": list(value) for (task_id, map_index), value in result.tis.items()}}))
"""


def test_fault_4_worker_killed_mid_upload_in_the_whole_dag(
    gong: EmulatorClient, emulator: EmulatorProcess, sync_template: Path, pycache: Path, tmp_path: Path
) -> None:
    home = new_sync_home(sync_template, tmp_path / "airflow_home")
    gong.inject_fault("delay", seconds=5, path=ENTITIES, method="POST")
    sync = SyncDag(home, pycache, emulator, defaults={"source": str(SAMPLE_DATA)})
    _, env = sync.command()
    worker = sync.start(tmp_path / "worker.log")
    kill_when(worker, gong.upload_counts, what="the first upload to reach Gong")
    assert worker.returncode == -signal.SIGKILL  # killed mid-run, not ended on its own
    [killed_id] = gong.upload_counts()
    [run] = inspect_sync_db(home, pycache)["runs"]
    assert run["state"] == "running"  # the worker died with the run in flight

    resumed = subprocess.run(
        [sys.executable, "-c", CONTINUE_RUN, str(ROOT / "dags"), SYNC_DAG_ID, run["run_id"]],
        env=importing_tests(env),
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, output[-5000:]
    outcome = json.loads(output.split("RUN-RESULT ", 1)[1].splitlines()[0])
    assert outcome["state"] == "success", output[-5000:]
    [retried] = outcome["retried"]
    assert retried.split(".")[1].startswith("upload")
    assert outcome["tis"][retried][1] == 2  # try 2 of the killed task

    def killed_posts() -> list[int]:
        log = gong.requests_log()
        return [c["status"] for c in log if c["path"] == ENTITIES and c["clientRequestId"] == killed_id]

    poll(killed_posts, what="the late answer to the killed worker")
    assert killed_posts() == [201]  # the retry reattached: it did not send the file again
    assert_export_stored_exactly_once(gong)
