"""A real Airflow for end-to-end tests: its processes on 127.0.0.1, its environment, its REST API.

Used by every test that drives Airflow from the outside (REST API, browser, Celery workers). Each
process runs in its own session and process group; ``stop()`` terminates the groups, then kills
every process left in their sessions (task processes sit in groups of their own) and checks that none
is left.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support.faults import poll
from tests.support.paths import clean_environment

START_TIMEOUT = 120.0
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
"""Airflow's own processes, in the order ``AirflowProcesses.start`` starts them."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow_env(home: Path, port: int, dags_folder: Path, **extra: str) -> dict[str, str]:
    """The environment of every Airflow process of a test stack: SQLite and LocalExecutor unless
    ``extra`` says otherwise; nothing inherited from the caller's AIRFLOW__/GONG_ settings."""
    env = clean_environment()
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@dataclass
class AirflowProcesses:
    """Airflow's components as separate process groups, all bound to 127.0.0.1."""

    home: Path
    env: dict[str, str]
    port: int
    components: tuple[str, ...] = COMPONENTS
    """Which of Airflow's own processes this group runs (a machine of a several-machines stack runs
    some of them: the api-server and scheduler on one, a worker and a triggerer on another)."""
    extra_commands: dict[str, list[str]] = field(default_factory=dict)
    """More processes to start beside the four, by name: ``airflow`` sub-command and arguments
    (e.g. ``{"worker-a": ["celery", "worker", "-H", "worker-a@127.0.0.1"]}``)."""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    killed: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    """Processes a test killed on purpose (``kill``): no longer expected alive, still reaped by ``stop``."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_path(self, name: str) -> Path:
        return self.home / f"{name}.out"

    def airflow(self, *args: str, timeout: float = 300) -> None:
        result = subprocess.run(
            [str(Path(sys.executable).with_name("airflow")), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, (
            f"airflow {' '.join(args)}: {result.stdout[-2000:]} {result.stderr[-3000:]}"
        )

    def commands(self) -> dict[str, list[str]]:
        """Each process's command line, by name."""
        airflow = str(Path(sys.executable).with_name("airflow"))
        own = {
            "api-server": [
                airflow,
                "api-server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
            "dag-processor": [airflow, "dag-processor"],
            "triggerer": [airflow, "triggerer", "--skip-serve-logs"],
        }
        return {
            **{name: own[name] for name in self.components},
            **{name: [airflow, *args] for name, args in self.extra_commands.items()},
        }

    def start(self, names: tuple[str, ...] | None = None) -> None:
        """Start every process (or those ``names``: e.g. a worker again after ``kill``), each in its own
        process group, its output appended to ``log_path(name)``."""
        for name, command in self.commands().items():
            if names is not None and name not in names:
                continue
            if name in self.killed:
                self.killed.pop(name).wait(timeout=10)
            with self.log_path(name).open("ab") as out:
                self.processes[name] = subprocess.Popen(
                    command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = self.log_path(name).read_text(errors="replace")[-3000:]
                raise AssertionError(f"airflow {name} exited with {process.returncode}:\n{tail}")

    def kill(self, name: str) -> None:
        """SIGKILL process ``name`` and every process of its session at once, as when its machine or
        container dies. The session, not the group: Airflow's supervisor puts each task process in a
        process group of its own, which a SIGKILL to the worker's group would leave running."""
        process = self.processes.pop(name)
        self.killed[name] = process
        _kill_session(process.pid)
        process.wait(timeout=30)
        poll(lambda: not _session_alive(process.pid), timeout=30, interval=0.2, what=f"{name} to die")

    def terminate(self, name: str) -> None:
        """SIGTERM process ``name``'s group and wait for it to end (a Celery worker finishes its running
        tasks and hands its reserved messages back): as when its machine is taken down for upkeep."""
        process = self.processes.pop(name)
        self.killed[name] = process
        _signal_group(process.pid, signal.SIGTERM)
        process.wait(timeout=120)
        poll(lambda: not _session_alive(process.pid), timeout=60, interval=0.2, what=f"{name} to end")

    def stop(self) -> None:
        self.processes.update(self.killed)
        self.killed.clear()
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_session_alive(p.pid) for p in self.processes.values()):
            time.sleep(0.2)
        for process in self.processes.values():
            _kill_session(process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        poll(
            lambda: not any(_session_alive(p.pid) for p in self.processes.values()),
            timeout=10,
            interval=0.5,
            what="every Airflow process group to end",
        )


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _session_members(sid: int) -> list[int]:
    """Live processes of session ``sid`` (each process here leads a session of its own)."""
    import psutil

    members = []
    for process in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(ProcessLookupError, PermissionError, psutil.Error):
            if os.getsid(process.pid) == sid and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
    return members


def _kill_session(sid: int) -> None:
    for pid in _session_members(sid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _session_alive(sid: int) -> bool:
    return bool(_session_members(sid))


class Api:
    """Airflow's REST API (/api/v2) with a JWT from /auth/token."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        token = self.session.get(f"{base_url}/auth/token", timeout=30)
        token.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def get(self, path: str, **params: Any) -> Any:
        response = self.session.get(f"{self.base_url}/api/v2{path}", params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def send(self, method: str, path: str, body: Any) -> Any:
        response = self.session.request(method, f"{self.base_url}/api/v2{path}", json=body, timeout=30)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()


def wait_until_ready(airflow: AirflowProcesses, dag_ids: list[str]) -> Api:
    """Poll until the api-server answers and the dag-processor has parsed ``dag_ids``; unpause them."""

    def api_ready() -> Api | None:
        airflow.check_alive()
        try:
            return Api(airflow.base_url)
        except requests.RequestException:
            return None

    api: Api = poll(api_ready, timeout=START_TIMEOUT, interval=0.5, what="the api-server")

    def dags_parsed() -> bool:
        airflow.check_alive()
        for dag_id in dag_ids:
            try:
                api.get(f"/dags/{dag_id}")
            except requests.HTTPError:
                errors = api.get("/importErrors")["import_errors"]
                assert not errors, f"DAG import errors: {errors}"
                return False
        return True

    poll(dags_parsed, timeout=START_TIMEOUT, interval=1.0, what=f"the dag-processor to parse {dag_ids}")
    for dag_id in dag_ids:
        api.send("PATCH", f"/dags/{dag_id}", {"is_paused": False})
    return api


@contextlib.contextmanager
def running_airflow(
    home: Path, env: dict[str, str], dag_ids: list[str], pools: dict[str, int] | None = None
) -> Iterator[tuple[AirflowProcesses, Api]]:
    """A migrated Airflow with ``pools``, its processes started and ``dag_ids`` parsed and unpaused;
    every process stopped on exit."""
    port = int(env["AIRFLOW__API__PORT"])
    airflow = AirflowProcesses(home=home, env=env, port=port)
    airflow.airflow("db", "migrate")
    for name, slots in (pools if pools is not None else {"gong_api": 3}).items():
        airflow.airflow("pools", "set", name, str(slots), name)
    airflow.start()
    try:
        yield airflow, wait_until_ready(airflow, dag_ids)
    finally:
        airflow.stop()


def wait_for_run(
    airflow: AirflowProcesses, api: Api, dag_id: str, run_id: str, timeout: float
) -> dict[str, Any]:
    """Poll a DAG run until it ends; fail with every task's state unless it succeeded."""

    def finished() -> dict[str, Any] | None:
        airflow.check_alive()
        state = api.get(f"/dags/{dag_id}/dagRuns/{run_id}")
        return state if state["state"] in ("success", "failed") else None

    final: dict[str, Any] = poll(finished, timeout=timeout, interval=1.0, what=f"run {run_id} to finish")
    if final["state"] != "success":
        instances = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=500)["task_instances"]
        states = {f"{ti['task_id']}[{ti['map_index']}]": ti["state"] for ti in instances}
        raise AssertionError(f"{dag_id} run {run_id} ended {final['state']}: {states}")
    return final
