"""A real Airflow for end-to-end tests: its processes on 127.0.0.1, its environment, its REST API.

Used by every test that drives Airflow from the outside (REST API, browser, Celery workers). Each
process runs in its own process group; ``stop()`` terminates the groups (then kills them) and checks
that none is left.
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

    def start(self) -> None:
        airflow = str(Path(sys.executable).with_name("airflow"))
        commands = {
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
            **{name: [airflow, *args] for name, args in self.extra_commands.items()},
        }
        for name, command in commands.items():
            with self.log_path(name).open("wb") as out:
                self.processes[name] = subprocess.Popen(
                    command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = self.log_path(name).read_text(errors="replace")[-3000:]
                raise AssertionError(f"airflow {name} exited with {process.returncode}:\n{tail}")

    def kill(self, name: str) -> None:
        """SIGKILL process ``name`` and its whole group at once, as when its machine or container dies."""
        process = self.processes.pop(name)
        self.killed[name] = process
        _signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        poll(lambda: not _group_alive(process.pid), timeout=30, interval=0.2, what=f"{name} to die")

    def stop(self) -> None:
        self.processes.update(self.killed)
        self.killed.clear()
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_group_alive(p.pid) for p in self.processes.values()):
            time.sleep(0.2)
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        poll(
            lambda: not any(_group_alive(p.pid) for p in self.processes.values()),
            timeout=10,
            interval=0.5,
            what="every Airflow process group to end",
        )


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie leader still "exists" until reaped; count only live members.
    import psutil

    return any(
        p.status() != psutil.STATUS_ZOMBIE for p in psutil.process_iter(["pid"]) if _safe_pgid(p.pid) == pgid
    )


def _safe_pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


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
