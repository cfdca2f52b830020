"""``IntegrationId``: parsed once where a value enters, carried typed, written as its exact digits.

The whole-DAG check (a 19-digit id typed in ``conf`` reaches Gong exact) rides on a run that exists
anyway: tests/dags/test_sync_changes_dag.py, its first run."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gong_provider.ids import MAX_INTEGRATION_ID, parse_integration_id

PACKAGE = Path(__file__).resolve().parents[1] / "gong_provider"
ROUNDED_BY_A_FLOAT = 2271307570613351879  # float() gives 2271307570613351936


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=MAX_INTEGRATION_ID))
def test_every_64_bit_id_parses_exact_from_its_digits_or_its_int(number: int) -> None:
    for given_as in (number, str(number), f" {number}\n"):
        parsed = parse_integration_id(given_as)
        assert parsed == number
        assert type(parsed) is int  # a plain int at run time: JSON, msgspec and XCom take it


@settings(max_examples=50)
@given(st.integers(min_value=MAX_INTEGRATION_ID + 1, max_value=10**30) | st.integers(max_value=-1))
def test_numbers_outside_a_signed_64_bit_id_are_refused(number: int) -> None:
    with pytest.raises(ValueError, match="integration_id"):
        parse_integration_id(number)


def test_a_float_is_refused_even_when_it_looks_whole() -> None:
    assert int(float(ROUNDED_BY_A_FLOAT)) != ROUNDED_BY_A_FLOAT
    with pytest.raises(TypeError, match="2\\^53"):
        parse_integration_id(float(ROUNDED_BY_A_FLOAT))


def _calls_of(name: str) -> list[str]:
    """``file:line`` of every call of ``name(...)`` in the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    return found


def test_only_the_parser_makes_an_integration_id() -> None:
    """``IntegrationId(...)`` skips the checks: the one constructor is ``parse_integration_id``."""
    assert [call.split(":")[0] for call in _calls_of("IntegrationId")] == ["ids.py"]


def test_no_bare_int_of_an_integration_id_outside_gongs_own_side() -> None:
    """A bare ``int(...integration...)`` bypasses the one rule (the emulator is Gong's side: its own
    parser, on purpose)."""
    bare = re.compile(r"\bint\([^()]*integration", re.IGNORECASE)
    found = [
        f"{path.relative_to(PACKAGE)}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if "emulator" not in path.parts
        for line in path.read_text(encoding="utf-8").splitlines()
        if bare.search(line)
    ]
    assert found == []


def test_the_http_layer_writes_the_exact_digits_and_refuses_what_is_not_an_id() -> None:
    from gong_provider.hooks._params import integration_id_http_value

    assert integration_id_http_value(parse_integration_id(str(MAX_INTEGRATION_ID))) == "9223372036854775807"
    with pytest.raises(TypeError, match="float"):  # an untyped caller of the public hook
        integration_id_http_value(float(ROUNDED_BY_A_FLOAT))  # type: ignore[arg-type]


def test_the_change_plan_keeps_the_id_as_digits_and_reads_it_back_exact() -> None:
    from gong_provider.changes import ChangePlan
    from gong_provider.staging.manifest import StagingManifest

    plan = ChangePlan(
        object_type="CONTACT",
        integration_id=parse_integration_id(MAX_INTEGRATION_ID),
        state_base="/state",
        run_token="t",
        run_key="r",
        mode="upsert",
        base_generation=None,
        fingerprint="f",
        rebuild=False,
        rebuild_reason=None,
        manifest=StagingManifest(object_type="CONTACT"),
    )
    data = plan.to_dict()
    assert data["integration_id"] == "9223372036854775807"  # no JSON reader rounds text
    again = ChangePlan.from_dict(json.loads(json.dumps(data)))
    assert again.integration_id == MAX_INTEGRATION_ID
    assert again == plan
    with pytest.raises(ValueError, match="integration_id"):
        ChangePlan.from_dict({**data, "integration_id": "2.27e18"})


def test_the_cli_parses_integration_id_at_the_door(capsys: pytest.CaptureFixture[str]) -> None:
    from gong_provider.cli import build_parser, main

    args = build_parser().parse_args(
        ["validate", "x.csv", "--type", "DEAL", "--integration-id", str(ROUNDED_BY_A_FLOAT)]
    )
    assert args.integration_id == ROUNDED_BY_A_FLOAT
    with pytest.raises(SystemExit) as exited:  # a usage error, before any connection is looked up
        main(["validate", "x.csv", "--type", "DEAL", "--integration-id", "2.27e18"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "--integration-id: integration_id '2.27e18' is not a Gong integration id" in error


def test_the_sensor_parses_its_rendered_argument_once() -> None:
    from gong_provider.sensors.gong import GongRequestStatusSensor

    sensor = GongRequestStatusSensor(
        task_id="wait", integration_id="{{ params.integration_id }}", client_request_id="up-1"
    )
    sensor.integration_id = f"{ROUNDED_BY_A_FLOAT}"  # what templating leaves
    assert sensor.parsed_integration_id == ROUNDED_BY_A_FLOAT
    sensor.integration_id = "changed later"  # parsed once: not read again
    assert sensor.parsed_integration_id == ROUNDED_BY_A_FLOAT


def test_the_trigger_kwargs_carry_the_digits_and_the_trigger_parses_them_once() -> None:
    from gong_provider.triggers.gong import GongRequestStatusTrigger

    trigger = GongRequestStatusTrigger(integration_id=ROUNDED_BY_A_FLOAT, client_request_id="up-1")
    _, kwargs = trigger.serialize()
    assert kwargs["integration_id"] == "2271307570613351879"
    resumed = GongRequestStatusTrigger(**json.loads(json.dumps(kwargs)))
    assert resumed.integration_id == ROUNDED_BY_A_FLOAT
