"""The fault-injection matrix, the faults that need real worker processes (see test_faults.py beside it).

4. A worker process running the upload is SIGKILLed while Gong has stored the file but not yet
   answered; the scheduler's retry of that task (try 2, same run) reattaches: one upload.
8. Three worker processes upload in parallel, each with its own 3 calls/s budget (``budget_scope:
   process``, as workers on three hosts would be), while Gong allows 3 calls per second in all: Gong
   answers 429s, none reaches the user, all DONE. (The shared budget of one host's processes, which
   keeps them from any 429, is tested in tests/hooks/test_rate_budget.py.)
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from tests.support.faults import (
    ENTITIES,
    assert_exactly_once,
    conf_for,
    connection_json,
    continue_run,
    faults_dags,
    gong,
    latest_run_id,
    mark_for_retry,
    poll,
    posts,
    pycache,
    start_worker,
    stop_group,
    subprocess_env,
    worker_result,
    write_contacts,
)

__all__ = ["gong", "pycache"]  # fixtures used here

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ANSWER_DELAY = 5.0
"""Seconds Gong takes to answer the killed worker's upload (the kill comes right after the store)."""


# ----------------------------------------------------------------------------- 4: the worker is killed


def test_fault_4_worker_killed_mid_upload_then_retried(
    gong: EmulatorClient,
    emulator: EmulatorProcess,
    tmp_path: Path,
    pycache: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = ["f4-a", "f4-b", "f4-c"]
    source = write_contacts(tmp_path / "contacts.ldjson", ids)
    # Gong stores the upload, then its answer is late: the worker is killed while waiting for it.
    gong.inject_fault("delay", seconds=ANSWER_DELAY, path=ENTITIES, method="POST")
    log_path = tmp_path / "worker.log"
    worker, log = start_worker(
        "faults_upload_wait",
        conf_for(emulator, file=str(source)),
        subprocess_env(emulator, pycache),
        log_path,
    )
    try:
        poll(lambda: gong.upload_counts(), what="the upload to reach Gong", timeout=120)
        os.killpg(worker.pid, signal.SIGKILL)
        assert worker.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop_group(worker)
        log.close()
    assert "RUN-RESULT" not in log_path.read_text(errors="replace")  # it really died mid-run
    [client_request_id] = gong.upload_counts()

    dag = faults_dags().faults_upload_wait
    run_id = latest_run_id(dag.dag_id)
    mark_for_retry(dag.dag_id, run_id, ["upload"])
    result = continue_run(dag, run_id, capsys)
    assert result.state == "success", result.output[-4000:]
    assert result.tries_of("upload") == 2
    assert result.xcom("upload")["client_request_id"] == client_request_id
    assert result.xcom("upload")["already_accepted"] is True
    assert result.xcom("wait")["status"] == "DONE"
    # The killed worker's POST is logged once its late answer is written; the retry sent none.
    poll(lambda: posts(gong), what="the first upload's answer", timeout=ANSWER_DELAY + 30)
    assert [call["status"] for call in posts(gong)] == [201]
    assert_exactly_once(gong, ids)


def test_fault_8_three_workers_in_parallel_under_3_calls_per_second(
    gong: EmulatorClient, emulator: EmulatorProcess, tmp_path: Path, pycache: Path
) -> None:
    """Three worker processes, each with its own 3/s budget (as on three hosts), share Gong's 3/s."""
    gong.configure(rate_limit_per_second=3, processing_delay=3)  # the waits overlap for seconds
    env = subprocess_env(emulator, pycache)
    env["AIRFLOW_CONN_GONG_DEFAULT"] = connection_json(emulator, budget_scope="process")
    workers, ids = [], []
    for index in range(3):
        names = [f"f8p-{index}-{n}" for n in range(2)]
        ids += names
        source = write_contacts(tmp_path / f"contacts-{index}.ldjson", names)
        log_path = tmp_path / f"worker-{index}.log"
        workers.append(
            (
                *start_worker("faults_upload_wait", conf_for(emulator, file=str(source)), env, log_path),
                log_path,
            )
        )
    try:
        for process, _, _ in workers:
            process.wait(timeout=180)
    finally:
        for process, log, _ in workers:
            stop_group(process)
            log.close()
    for process, _, log_path in workers:
        assert process.returncode == 0, log_path.read_text(errors="replace")[-4000:]
        assert worker_result(log_path)["state"] == "success", log_path.read_text(errors="replace")[-4000:]
    assert_exactly_once(gong, ids, uploads=3)
    answered = [call["status"] for call in gong.requests_log()]
    assert 429 in answered, "the three workers never hit Gong's limit: the test did not test it"
