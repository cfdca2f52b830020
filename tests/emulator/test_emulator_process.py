"""The emulator as a process: start-up output, options, env vars, signals, restarts, streaming memory."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
import requests
from requests_toolbelt import MultipartEncoder

from gong_provider.emulator.cli import add_emulator_parser
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.emulator.processing import BATCH_LINES, process_job
from gong_provider.emulator.server import LISTENING_PREFIX
from gong_provider.emulator.store import Store, connect
from tests.fixtures.emulator import GongApi, ldjson

MODIFIED = "2024-03-01T10:11:12Z"
FAST = {"processing_delay": 0, "rate_limit_per_second": 0}


def test_prints_url_first_then_credentials(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path, **FAST) as emulator:
        assert emulator.output[0] == f"{LISTENING_PREFIX}{emulator.url}"
        assert emulator.url.startswith("http://127.0.0.1:")
        text = "\n".join(emulator.output)
        for value in (
            "emulator-access-key",
            "emulator-access-key-secret",
            "emulator-token",
            "2271307570613351879",
        ):
            assert value in text
        assert requests.get(f"{emulator.url}/_emulator/health", timeout=10).json()["status"] == "ok"


def test_sigterm_and_sigint_stop_cleanly(tmp_path: Path) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        emulator = EmulatorProcess(tmp_path / signum.name, **FAST).start()
        process = emulator._process
        assert process is not None
        process.send_signal(signum)
        assert process.wait(timeout=15) == 0
        emulator.stop()
        assert emulator.output[-1] == "Gong CRM API emulator stopped"
        assert (
            not psutil.pid_exists(process.pid) or psutil.Process(process.pid).status() == psutil.STATUS_ZOMBIE
        )


def test_custom_credentials_and_integration(tmp_path: Path) -> None:
    options = {
        "access_key": "k1",
        "access_key_secret": "s1",
        "token": "t1",
        "integration_id": 9007199254740993,
    }
    with EmulatorProcess(tmp_path, **FAST, **options) as emulator:
        response = requests.get(f"{emulator.url}/v2/crm/integrations", auth=("k1", "s1"), timeout=10)
        assert response.json()["integrations"][0]["integrationId"] == 9007199254740993
        default = requests.get(
            f"{emulator.url}/v2/crm/integrations", auth=("emulator-access-key", "x"), timeout=10
        )
        assert default.status_code == 401
        bearer = {"Authorization": "Bearer t1"}
        assert (
            requests.get(f"{emulator.url}/v2/crm/integrations", headers=bearer, timeout=10).status_code == 200
        )
        assert json.loads(emulator.connection_json())["login"] == "k1"


def test_no_integration(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path, no_integration=True, **FAST) as emulator:
        assert emulator.integration_id == 0
        api = GongApi(emulator)
        assert api.call("GET", "integrations").json()["integrations"] == []
        refused = api.upload(
            "STAGE", "x", ldjson({"objectId": "s", "name": "S"}), integration_id=2271307570613351879
        )
        assert refused.status_code == 400
        assert api.call("PUT", "integrations", json={"ownerEmail": "a@b.com", "name": "n"}).status_code == 200


def test_environment_variables_configure_the_cli(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "GONG_EMULATOR_ACCESS_KEY": "env-key",
        "GONG_EMULATOR_ACCESS_KEY_SECRET": "env-secret",
        "GONG_EMULATOR_INTEGRATION_ID": "1234567890123456789",
        "GONG_EMULATOR_PORT": "0",
        "GONG_EMULATOR_DATA_DIR": str(tmp_path),
        "GONG_EMULATOR_RATE_LIMIT_PER_SECOND": "7",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gong_provider.emulator"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith(LISTENING_PREFIX)
        url = first[len(LISTENING_PREFIX) :].strip()
        response = requests.get(f"{url}/v2/crm/integrations", auth=("env-key", "env-secret"), timeout=10)
        assert response.json()["integrations"][0]["integrationId"] == 1234567890123456789
        assert (
            requests.get(f"{url}/_emulator/config", timeout=10).json()["settings"]["rate_limit_per_second"]
            == 7
        )
        assert (tmp_path / "emulator.sqlite3").exists()
    finally:
        process.terminate()
        assert process.wait(timeout=15) == 0


def test_emulator_sub_command_is_registered() -> None:
    parser = argparse.ArgumentParser()
    add_emulator_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["emulator", "--port", "0", "--processing-delay", "0.5", "--no-integration"])
    assert (args.port, args.processing_delay, args.no_integration) == (0, 0.5, True)
    assert args.host == "127.0.0.1"
    assert callable(args.handler)


def test_console_script_runs_the_emulator(tmp_path: Path) -> None:
    pytest.importorskip(
        "gong_provider.staging.cli", reason="gong-provider's other sub-commands are not there yet"
    )
    command = [
        sys.executable,
        "-m",
        "gong_provider.cli",
        "emulator",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(LISTENING_PREFIX)
    finally:
        process.terminate()
        assert process.wait(timeout=15) == 0


def test_state_survives_a_restart(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path, **FAST) as emulator:
        api = GongApi(emulator)
        record = {"objectId": "a1", "modifiedDate": MODIFIED, "name": "A"}
        assert api.upload_and_wait("ACCOUNT", "before", ldjson(record))["status"] == "DONE"
        field = {"uniqueName": "tier", "label": "Tier", "type": "STRING"}
        params = {"integrationId": emulator.integration_id, "objectType": "ACCOUNT"}
        assert api.call("POST", "entity-schema", params=params, json=[field]).status_code == 201
        port = emulator.port

        emulator.restart()

        assert emulator.port == port
        assert api.wait("before")["totalSuccessCount"] == 1
        assert emulator.client.entities("ACCOUNT") == {"a1": record}
        assert emulator.client.upload_counts() == {"before": 1}
        assert emulator.client.record_counts("ACCOUNT") == {"a1": 1}
        schema = api.call("GET", "entity-schema", params=params).json()["objectTypeToSelectedFields"][
            "ACCOUNT"
        ]
        assert [item["name"] for item in schema] == ["tier"]
        assert api.upload("ACCOUNT", "before", ldjson(record)).status_code == 409
        assert [entry["clientRequestId"] for entry in emulator.client.requests_log()][:1] == ["before"]


def test_pending_request_finishes_after_restart(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path, processing_delay=1.5, rate_limit_per_second=0) as emulator:
        api = GongApi(emulator)
        assert api.upload("STAGE", "pending", ldjson({"objectId": "s1", "name": "S"})).status_code == 201
        assert api.status("pending").json()["status"] == "PENDING"
        emulator.stop()
        emulator.start()
        assert api.wait("pending")["status"] == "DONE"
        assert emulator.client.entities("STAGE") == {"s1": {"objectId": "s1", "name": "S"}}
        assert emulator.client.record_counts("STAGE") == {"s1": 1}


def test_interrupted_processing_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    """A request stopped between batches continues after them: no line applied twice, none lost."""
    lines = [{"objectId": f"s{index}", "name": "S"} for index in range(BATCH_LINES * 2 + 10)]
    lines[7] = {"objectId": "bad"}
    lines[-1] = {"objectId": "s3", "name": "repeat"}
    data = tmp_path / "stages.ldjson"
    data.write_bytes(ldjson(*lines))
    store = Store(tmp_path / "state.sqlite3")
    store.add_integration(1, "a@b.com", "n")
    assert store.insert_request(
        client_request_id="r",
        integration_id=1,
        kind="UPLOAD",
        object_type="STAGE",
        file_path=str(data),
        file_bytes=data.stat().st_size,
        in_progress_delay=0,
        ready_delay=0,
        forced_error=None,
    )
    db = connect(store.path)
    stop = threading.Event()
    stop.set()  # stop after the first batch
    job = store.next_job()
    assert job is not None
    assert process_job(db, job, stop) is False
    partial = store.get_request("r")
    assert partial is not None
    assert (partial.status, partial.processed_lines) == ("IN_PROGRESS", BATCH_LINES)

    resumed = store.next_job()
    assert resumed is not None
    assert process_job(db, resumed, threading.Event()) is True
    final = store.get_request("r")
    assert final is not None
    assert final.status == "FAILED"
    assert [error["line"] for error in final.errors] == [8, len(lines)]
    assert (final.total_success_count, final.total_error_count) == (len(lines) - 2, 2)
    counts = store.record_counts("STAGE", 1)
    assert len(counts) == len(lines) - 2
    assert set(counts.values()) == {1}


def _rss(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process in bytes, from /proc (Linux)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_big_upload_is_streamed_not_held_in_memory(tmp_path: Path) -> None:
    size = 64 * 1024 * 1024
    data = tmp_path / "stages.ldjson"
    with open(data, "wb") as stream:
        index = 0
        while stream.tell() < size:
            stream.write(b'{"objectId":"s%d","name":"%s"}\n' % (index, b"n" * 200))
            index += 1
    with EmulatorProcess(tmp_path / "state", **FAST) as emulator:
        api = GongApi(emulator)
        assert (
            api.upload_and_wait("STAGE", "warm-up", ldjson({"objectId": "w", "name": "W"}))["status"]
            == "DONE"
        )
        assert emulator.pid is not None
        before, _ = _rss(emulator.pid)
        with open(data, "rb") as stream:
            encoder = MultipartEncoder({"dataFile": ("stages.ldjson", stream, "application/x-ndjson")})
            params = {
                "integrationId": emulator.integration_id,
                "objectType": "STAGE",
                "clientRequestId": "big",
            }
            response = api.call(
                "POST",
                "entities",
                params=params,
                data=encoder,
                headers={"Content-Type": encoder.content_type},
            )
        assert response.status_code == 201
        status = api.wait("big", timeout=120)
        assert (status["status"], status["totalSuccessCount"]) == ("DONE", index)
        _, peak = _rss(emulator.pid)
        print(f"emulator RSS before {before / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB")
        assert peak - before < 64 * 1024 * 1024 - 1, f"RSS grew by {(peak - before) / 2**20:.1f} MiB"
        log = [entry for entry in emulator.client.requests_log() if entry["clientRequestId"] == "big"]
        assert log[0]["records"] == index


def test_a_busy_port_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path / "first", **FAST) as emulator:
        port = emulator.url.rsplit(":", 1)[1]
        busy = subprocess.run(
            [
                sys.executable,
                "-m",
                "gong_provider.emulator",
                "--port",
                port,
                "--data-dir",
                str(tmp_path / "b"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert busy.returncode == 2
    lines = busy.stderr.strip().splitlines()
    assert len(lines) == 1, busy.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in lines[0]
    assert "Traceback" not in busy.stderr
