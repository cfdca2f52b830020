"""The Celery test stack (tests/support/celery_stack.py) and docker-compose.yaml configure Airflow alike.

Every AIRFLOW_/GONG_ setting of compose's Airflow services is either set to the same value by the
test, or is one whose hosts, ports, credentials or paths must differ (and only those differ), or is
listed in COMPOSE_ONLY_SETTINGS with its reason; every setting the test adds is in
TEST_ONLY_SETTINGS with its reason. A setting added to one file and not the other fails here.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from gong_provider.hooks._ratelimit import BUDGET_DIR_ENV
from tests.support.celery_stack import (
    COMPOSE_ONLY_SETTINGS,
    LOCATION_SETTINGS,
    TEST_ONLY_SETTINGS,
    celery_env,
    gong_conn_uri,
)
from tests.support.compose import COMPOSE_FILE, environment

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
)


def _relevant(key: str) -> bool:
    return key.startswith(("AIRFLOW", "GONG_")) or key == "DUMB_INIT_SETSID"


@pytest.fixture(scope="module")
def compose_env() -> dict[str, str]:
    """The union of compose's Airflow services' settings (they share x-airflow-common's)."""
    services = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]
    merged: dict[str, str] = {}
    for name in COMPOSE_AIRFLOW_SERVICES:
        for key, value in environment(services[name]).items():
            assert merged.get(key, value) == value, f"{name} sets {key} unlike the other services"
            merged[key] = value
    return {key: value for key, value in merged.items() if _relevant(key)}


@pytest.fixture(scope="module")
def test_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What tests/e2e/test_e2e_celery.py gives its processes (same function, placeholder ports)."""
    from gong_provider.emulator.config import DEFAULT_INTEGRATION_ID

    base = tmp_path_factory.mktemp("celery-settings")
    env = celery_env(
        base / "airflow_home",
        api_port=18080,
        dags_folder=base / "dags",
        health_check_port=18974,
        database_url="postgresql+psycopg2://postgres@127.0.0.1:15432/airflow",
        result_backend="db+postgresql://postgres@127.0.0.1:15432/airflow",
        broker_url="redis://127.0.0.1:16379/0",
        gong_conn_uri=gong_conn_uri("127.0.0.1", 18085, "emulator-access-key", "emulator-access-key-secret"),
        integration_id=DEFAULT_INTEGRATION_ID,
        source=ROOT / "dags" / "data",
        staging_base=base / "staging",
        budget_dir=base / "gong-budget",
        budget_url="redis://127.0.0.1:16379/1",
    )
    return {key: value for key, value in env.items() if _relevant(key)}


def test_compose_only_settings_are_the_listed_ones(
    compose_env: dict[str, str], test_env: dict[str, str]
) -> None:
    assert set(compose_env) - set(test_env) == set(COMPOSE_ONLY_SETTINGS)


def test_test_only_settings_are_the_listed_ones(
    compose_env: dict[str, str], test_env: dict[str, str]
) -> None:
    assert set(test_env) - set(compose_env) == set(TEST_ONLY_SETTINGS)


def test_shared_settings_are_equal_except_locations(
    compose_env: dict[str, str], test_env: dict[str, str]
) -> None:
    shared = set(compose_env) & set(test_env)
    assert set(LOCATION_SETTINGS) <= shared
    differing = {key for key in shared if compose_env[key] != test_env[key]}
    assert differing <= set(LOCATION_SETTINGS), {k: (compose_env[k], test_env[k]) for k in differing}
    assert "AIRFLOW__CORE__EXECUTOR" in shared - differing


def _url_without_location(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.path


@pytest.mark.parametrize(
    "key",
    [
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "GONG_PROVIDER_BUDGET_URL",
    ],
)
def test_urls_differ_only_in_host_port_and_credentials(
    key: str, compose_env: dict[str, str], test_env: dict[str, str]
) -> None:
    """Same driver or scheme, same database / Redis db / path: PostgreSQL, Redis (broker and Gong
    budget), the execution API."""
    assert _url_without_location(test_env[key]) == _url_without_location(compose_env[key])


def test_gong_connection_differs_only_in_host_and_port(
    compose_env: dict[str, str], test_env: dict[str, str]
) -> None:
    def without_location(uri: str) -> dict[str, Any]:
        parts = urlsplit(uri)
        return {
            "type": parts.scheme,
            "login": parts.username,
            "password": parts.password,
            "extra": parse_qs(parts.query),
        }

    key = "AIRFLOW_CONN_GONG_DEFAULT"
    assert without_location(test_env[key]) == without_location(compose_env[key])


def test_paths_point_at_the_same_things(compose_env: dict[str, str], test_env: dict[str, str]) -> None:
    # the sample export under the DAGs folder
    compose_source = PurePosixPath(compose_env["GONG_CRM_SOURCE"])
    test_source = Path(test_env["GONG_CRM_SOURCE"])
    assert compose_source.parts[-2:] == test_source.parts[-2:] == ("dags", "data")
    assert test_source.is_dir()
    # one staging folder that every worker shares
    assert PurePosixPath(compose_env["GONG_STAGING_BASE"]).is_absolute()
    assert Path(test_env["GONG_STAGING_BASE"]).is_absolute()
    # one folder of Gong budget lock files for every Airflow process, a folder of its own
    for env in (compose_env, test_env):
        budget_dir = PurePosixPath(env[BUDGET_DIR_ENV])
        assert budget_dir.is_absolute()
        assert budget_dir != PurePosixPath(env["GONG_STAGING_BASE"])


def test_every_listed_difference_has_a_reason() -> None:
    for reasons in (TEST_ONLY_SETTINGS, COMPOSE_ONLY_SETTINGS):
        assert all(len(reason) > 10 for reason in reasons.values())
    assert not set(TEST_ONLY_SETTINGS) & set(COMPOSE_ONLY_SETTINGS)
    assert not set(LOCATION_SETTINGS) & (set(TEST_ONLY_SETTINGS) | set(COMPOSE_ONLY_SETTINGS))
