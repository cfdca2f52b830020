"""The provider as Airflow sees it: the entry point, the provider-info schema, and the airflow CLI.

The CLI runs in subprocesses with a temporary AIRFLOW_HOME, against the package installed (editable)
in this venv, as a user's Airflow would load it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import gong_provider
from gong_provider import get_provider_info
from gong_provider.hooks.gong import GongCrmHook
from tests.support.paths import clean_environment

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
COMMANDS = {
    "list": ["providers", "list", "-o", "json"],
    "hooks": ["providers", "hooks", "-o", "json"],
    "widgets": ["providers", "widgets", "-o", "json"],
    "behaviours": ["providers", "behaviours", "-o", "json"],
}

pytestmark = [pytest.mark.floor]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, str]]:
    """Run the airflow commands (two at a time): {name: (parsed JSON stdout, stdout + stderr)}."""
    home = tmp_path_factory.mktemp("airflow_home")
    env = {key: value for key, value in clean_environment().items() if key != "PYTHONWARNINGS"}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        PYTHONWARNINGS="always",  # any deprecation warning our provider causes would be printed
    )
    results: dict[str, tuple[Any, str]] = {}
    names = list(COMMANDS)
    for pair in (names[:2], names[2:]):
        running = {
            name: subprocess.Popen(
                [AIRFLOW, *COMMANDS[name]],
                env=env,
                cwd=home,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in pair
        }
        for name, process in running.items():
            try:
                stdout, stderr = process.communicate(timeout=120)
            except subprocess.TimeoutExpired:  # pragma: no cover
                process.kill()
                process.communicate()
                raise
            assert process.returncode == 0, f"airflow {' '.join(COMMANDS[name])} failed:\n{stderr}"
            start = stdout.index("[")
            results[name] = (json.loads(stdout[start:]), stdout + stderr)
    return results


def test_entry_point_points_at_get_provider_info() -> None:
    found = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("gong_provider")
    ]
    assert len(found) == 1
    assert found[0].load() is get_provider_info


def test_provider_info_matches_airflows_schema() -> None:
    import airflow

    schema_path = Path(airflow.__file__).with_name("provider_info.schema.json")
    jsonschema.validate(get_provider_info(), json.loads(schema_path.read_text()))


def test_provider_info_names_the_hook_and_version() -> None:
    info = get_provider_info()
    (connection_type,) = info["connection-types"]
    assert connection_type["connection-type"] == GongCrmHook.conn_type == "gong"
    assert connection_type["hook-class-name"] == f"{GongCrmHook.__module__}.{GongCrmHook.__qualname__}"
    assert connection_type["hook-name"] == GongCrmHook.hook_name
    assert info["versions"] == [gong_provider.__version__]
    assert "gong_provider.hooks.gong" in info["hooks"][0]["python-modules"]


def test_hook_declares_its_form_declaratively() -> None:
    # Defining these methods on the hook makes Airflow 3.2+ print a deprecation warning.
    assert "get_connection_form_widgets" not in GongCrmHook.__dict__
    assert "get_ui_field_behaviour" not in GongCrmHook.__dict__


def test_airflow_providers_list_shows_the_provider(cli: dict[str, tuple[Any, str]]) -> None:
    providers, _ = cli["list"]
    (ours,) = [p for p in providers if p["package_name"] == "airflow-provider-gong"]
    assert ours["version"] == gong_provider.__version__


def test_airflow_providers_hooks_lists_the_gong_connection_type(cli: dict[str, tuple[Any, str]]) -> None:
    hooks, _ = cli["hooks"]
    (ours,) = [h for h in hooks if h["connection_type"] == "gong"]
    assert ours["class"] == "gong_provider.hooks.gong.GongCrmHook"
    assert ours["conn_id_attribute_name"] == "gong_conn_id"
    assert ours["hook_name"] == "Gong"
    assert ours["package_name"] == "airflow-provider-gong"


def test_connection_form_fields_and_labels_are_loaded(cli: dict[str, tuple[Any, str]]) -> None:
    widgets, _ = cli["widgets"]
    ours = {w["connection_parameter_name"] for w in widgets if w["package_name"] == "airflow-provider-gong"}
    assert {
        f"extra__gong__{name}"
        for name in (
            "access_token",
            "timeout",
            "max_retries",
            "calls_per_second",
            "budget_scope",
            "budget_dir",
            "budget_url",
            "calls_per_day",
            "verify_ssl",
        )
    } <= ours
    behaviours, _ = cli["behaviours"]
    assert {"field_behaviours": "gong"} in behaviours


def test_the_ui_connection_form_shows_our_fields_and_labels() -> None:
    """What the UI's connection form renders from (``/ui/connections/hook_meta``). Airflow 3.1 ignores
    ``conn-fields`` and answers None for both: a bare form, which is why 3.2 is the floor."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    (ours,) = [hook for hook in HookMetaService.hook_meta_data() if hook.connection_type == "gong"]
    assert ours.extra_fields is not None
    assert set(ours.extra_fields) == set(get_provider_info()["connection-types"][0]["conn-fields"])
    assert ours.extra_fields["access_token"]["schema"]["format"] == "password"
    assert ours.standard_fields is not None
    assert ours.standard_fields.login.title == "Access key"
    assert ours.standard_fields.port.hidden is True


def test_no_warning_about_our_provider(cli: dict[str, tuple[Any, str]]) -> None:
    for _, output in cli.values():
        for line in output.splitlines():
            lowered = line.lower()
            if "gong" in lowered:
                assert "deprecat" not in lowered, line
                assert "warning" not in lowered, line
                assert "error" not in lowered, line
