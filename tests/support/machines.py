"""Airflow on several machines for end-to-end tests, from pip alone: nothing shared but the services.

A "machine" is a set of Airflow processes with a folder of its own: its own ``HOME``, ``TMPDIR``,
``AIRFLOW_HOME`` (task logs included), a copy of the DAG files (not links: no machine reads another's
disk) and a per-host Gong budget folder. What the machines share is what several hosts share in a
real deployment: PostgreSQL (metadata and Celery results), Redis (the broker, and the Gong budget
through ``GONG_PROVIDER_BUDGET_URL``) and S3 (the export, staging and change-capture state), plus the
api-server's execution API and one JWT secret, as every Airflow host has.

Machine ``a`` runs the api-server, scheduler and dag-processor; ``b`` and ``c`` a Celery worker
(``WORKER_CONCURRENCY`` slots, Celery hostname ``worker-<machine>@127.0.0.1``) and a triggerer. Each
process is its own process group; a test kills one machine's worker (``kill_worker``) as when that
host dies, and starts it again (``start_worker``).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gong_provider.hooks._ratelimit import BUDGET_DIR_ENV
from tests.support.airflow_stack import AirflowProcesses, Api, wait_until_ready
from tests.support.faults import poll

SCHEDULING_MACHINE = "a"
WORKER_MACHINES = ("b", "c")
WORKER = "worker"
"""The Celery worker's process name on a worker machine."""
RUN_TIMEOUT = 420.0
WORKER_START_TIMEOUT = 120.0


def machine_settings(root: Path) -> dict[str, str]:
    """The settings that name one machine's own disk (the rest of the environment is shared)."""
    paths = {
        "HOME": root / "home",
        "TMPDIR": root / "tmp",
        "AIRFLOW_HOME": root / "airflow",
        "AIRFLOW__CORE__DAGS_FOLDER": root / "dags",
        BUDGET_DIR_ENV: root / "gong-budget",
    }
    return {key: str(path) for key, path in paths.items()}


def copy_dag_files(folder: Path, files: list[Path]) -> None:
    """A machine's DAGs folder: its own copy of each DAG file."""
    folder.mkdir(parents=True)
    for path in files:
        shutil.copy2(path, folder / path.name)


@dataclass
class Machine:
    name: str
    airflow: AirflowProcesses

    @property
    def worker_hostname(self) -> str:
        return f"worker-{self.name}@127.0.0.1"

    def output(self, process: str) -> str:
        return self.airflow.log_path(process).read_text(errors="replace")

    def workloads(self) -> list[str]:
        """The task log paths of the workloads this machine's worker received from Celery."""
        return re.findall(r"Executing workload in Celery: .*? log_path='([^']*)'", self.output(WORKER))

    def kill_worker(self) -> None:
        """SIGKILL the worker's whole process group, as when this host dies."""
        self.airflow.kill(WORKER)

    def stop_worker(self) -> None:
        """Take the worker down cleanly (its running tasks finish, reserved messages go back)."""
        self.airflow.terminate(WORKER)

    def start_worker(self) -> None:
        """Start the worker (again) and wait until Celery says it is ready."""
        ready_before = self.output(WORKER).count(f"{self.worker_hostname} ready.")
        self.airflow.start((WORKER,))
        poll(
            lambda: (
                self.airflow.check_alive()
                or self.output(WORKER).count(f"{self.worker_hostname} ready.") > ready_before
            ),
            timeout=WORKER_START_TIMEOUT,
            interval=0.5,
            what=f"the Celery worker of machine {self.name}",
        )


def _machine(root: Path, shared: dict[str, str], port: int, name: str) -> Machine:
    settings = machine_settings(root)
    for key in ("HOME", "TMPDIR", "AIRFLOW_HOME"):
        Path(settings[key]).mkdir(parents=True)
    home = Path(settings["AIRFLOW_HOME"])
    env = {**shared, **settings}
    if name == SCHEDULING_MACHINE:
        return Machine(
            name, AirflowProcesses(home, env, port, components=("api-server", "scheduler", "dag-processor"))
        )
    worker = ["celery", "worker", "-H", f"worker-{name}@127.0.0.1", "--pid", str(home / "worker.pid"), "-s"]
    return Machine(
        name, AirflowProcesses(home, env, port, components=("triggerer",), extra_commands={WORKER: worker})
    )


@dataclass
class Cluster:
    """The machines and the REST API of machine ``a``'s api-server."""

    machines: dict[str, Machine]
    api: Api

    @property
    def workers(self) -> list[Machine]:
        return [self.machines[name] for name in WORKER_MACHINES]

    def check_alive(self) -> None:
        for machine in self.machines.values():
            machine.airflow.check_alive()

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        run = self.api.send("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        return str(run["dag_run_id"])

    def wait_for(self, dag_id: str, run_id: str) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            self.check_alive()
            state = self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}")
            return state if state["state"] in ("success", "failed") else None

        final: dict[str, Any] = poll(finished, timeout=RUN_TIMEOUT, interval=1.0, what=f"{dag_id} {run_id}")
        return final

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api.get(
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=500
        )["task_instances"]
        return result

    def states(self, dag_id: str, run_id: str) -> dict[str, tuple[str, int]]:
        return {
            f"{ti['task_id']}[{ti['map_index']}]": (ti["state"], ti["try_number"])
            for ti in self.task_instances(dag_id, run_id)
        }

    def machines_that_ran(self, ti: dict[str, Any]) -> dict[str, list[int]]:
        """For each worker machine, the tries of task instance ``ti`` it received (from the tries' log
        paths, ``dag_id=../run_id=../task_id=..[/map_index=..]/attempt=N.log``)."""
        mapped = f"/map_index={ti['map_index']}" if ti["map_index"] >= 0 else ""
        prefix = f"dag_id={ti['dag_id']}/run_id={ti['dag_run_id']}/task_id={ti['task_id']}{mapped}/attempt="
        return {
            machine.name: [
                int(path[len(prefix) : -len(".log")])
                for path in machine.workloads()
                if path.startswith(prefix)
            ]
            for machine in self.workers
        }

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        import json

        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        value = self.api.get(path, map_index=map_index)["value"]
        return json.loads(value) if isinstance(value, str) else value


@contextlib.contextmanager
def several_machines(
    base: Path, shared: dict[str, str], *, port: int, dag_files: list[Path], dag_ids: list[str]
) -> Iterator[Cluster]:
    """Machines ``a``, ``b`` and ``c`` under ``base``, each with its own folders and copy of
    ``dag_files``, on the ``shared`` environment (databases, broker, object store, api port, secrets):
    the database migrated and the ``gong_api`` pool made (compose's airflow-init), every process
    started, ``dag_ids`` parsed and unpaused, both workers ready. Every process is stopped on exit."""
    machines: dict[str, Machine] = {}
    for name in (SCHEDULING_MACHINE, *WORKER_MACHINES):
        root = base / f"machine-{name}"
        machines[name] = _machine(root, shared, port, name)
        copy_dag_files(root / "dags", dag_files)
    scheduling = machines[SCHEDULING_MACHINE].airflow
    scheduling.airflow("db", "migrate")
    scheduling.airflow("pools", "set", "gong_api", "3", "Gong API calls")
    try:
        for machine in machines.values():
            machine.airflow.start()
        cluster = Cluster(machines, wait_until_ready(scheduling, dag_ids))
        for machine in cluster.workers:
            poll(
                lambda machine=machine: (
                    cluster.check_alive() or f"{machine.worker_hostname} ready." in machine.output(WORKER)
                ),
                timeout=WORKER_START_TIMEOUT,
                interval=0.5,
                what=f"the Celery worker of machine {machine.name}",
            )
        yield cluster
    finally:
        for machine in machines.values():
            machine.airflow.stop()
