"""No credential anywhere Airflow keeps or shows things: the demo DAG run with recognizable credentials.

gong_crm_sync runs (``airflow dags test``, as ``make demo`` does) against an emulator that only accepts
``AKIA-LEAKCHECK-7f3a`` / ``SECRET-LEAKCHECK-9c1e`` (Basic) and ``TOKEN-LEAKCHECK-55d0`` (Bearer). Then
every file under AIRFLOW_HOME (task logs, staged files, manifests, the metadata DB's raw bytes), the
run's console output, every XCom value, every rendered template field, every trigger row (kwargs
decrypted) and every trigger event kept for a resumed task is searched for the key, the secret,
the token and the Basic header value: zero hits. Failing runs are searched too: a wrong secret
(401) and a wrong token, in-process, and their exception texts.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from tests.support.faults import FAST_RETRIES, conf_for, faults_dags, pycache, run_dag, write_contacts
from tests.support.sync_dag import inspect_sync_db, new_sync_home, run_sync_dag, sync_template

__all__ = ["pycache", "sync_template"]  # fixtures used here

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ACCESS_KEY = "AKIA-LEAKCHECK-7f3a"
SECRET = "SECRET-LEAKCHECK-9c1e"
TOKEN = "TOKEN-LEAKCHECK-55d0"
BASIC = base64.b64encode(f"{ACCESS_KEY}:{SECRET}".encode()).decode()
MARKERS = (ACCESS_KEY, SECRET, TOKEN, BASIC, "LEAKCHECK")
SAMPLE_DATA = Path(__file__).resolve().parents[2] / "dags" / "data"


def hits(text: str | bytes, where: str) -> list[str]:
    data = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
    return [f"{marker} in {where}" for marker in MARKERS if marker.encode() in data]


def files_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def leakcheck_emulator(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with EmulatorProcess(
        tmp_path_factory.mktemp("leakcheck-emulator"),
        access_key=ACCESS_KEY,
        access_key_secret=SECRET,
        token=TOKEN,
        rate_limit_per_second=100_000,
    ) as process:
        yield process


def basic_connection(emulator: EmulatorProcess) -> str:
    return json.dumps(
        {
            "conn_type": "gong",
            "host": emulator.url,
            "login": ACCESS_KEY,
            "password": SECRET,
            "extra": FAST_RETRIES,
        }
    )


def bearer_connection(emulator: EmulatorProcess, token: str = TOKEN) -> str:
    return json.dumps(
        {"conn_type": "gong", "host": emulator.url, "extra": {**FAST_RETRIES, "access_token": token}}
    )


def test_the_demo_dag_leaves_no_credential_anywhere(
    leakcheck_emulator: EmulatorProcess,
    sync_template: Path,
    pycache: Path,
    tmp_path: Path,
) -> None:
    emulator = leakcheck_emulator
    emulator.client.reset()
    # Positive control: the markers are what the emulator accepts (its banner prints them by design).
    assert SECRET in "\n".join(emulator.output)
    assert TOKEN in "\n".join(emulator.output)

    home = new_sync_home(sync_template, tmp_path / "airflow_home")
    conf: dict[str, Any] = {"source": str(SAMPLE_DATA)}
    result = run_sync_dag(home, pycache, emulator, conf, connection=basic_connection(emulator))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]

    # The run really talked to Gong with these credentials, deferred and resumed its sensors.
    stored = emulator.client.entities("STAGE")
    assert stored, "nothing was uploaded: the leak check would prove nothing"
    db = inspect_sync_db(home, pycache)
    assert [run["state"] for run in db["runs"]] == ["success"], db["runs"]
    assert db["xcoms"], "no XCom to search"
    assert db["rendered"], "no rendered template fields to search"
    assert "running trigger in line" in output, "no task was deferred: no trigger to search"
    assert db["triggers"], "no trigger row to search"
    resumed = [ti for ti in db["tis"] if ti["next_method"] or ti["next_kwargs"]]

    found: list[str] = []
    found += hits(output, "the run's console output")
    for path in files_under(home):
        found += hits(path.read_bytes(), str(path.relative_to(home)))
    for xcom in db["xcoms"]:
        found += hits(json.dumps(xcom, default=repr), f"XCom {xcom['task_id']}[{xcom['map_index']}]")
    for rendered in db["rendered"]:
        found += hits(json.dumps(rendered, default=repr), f"rendered fields of {rendered['task_id']}")
    for trigger in db["triggers"]:
        found += hits(json.dumps(trigger, default=repr), f"trigger {trigger['classpath']}")
    for ti in resumed:
        found += hits(json.dumps(ti, default=repr), f"trigger event kept for {ti['task_id']}")
    found += hits(json.dumps(db["runs"], default=repr), "dag run conf")
    assert found == []
    if db["triggers"]:  # what the triggerer would run: the conn id and primitives only
        kwargs = db["triggers"][0]["kwargs"]
        assert kwargs["gong_conn_id"] == "gong_default"


def test_a_deferred_wait_with_an_oauth_token_leaves_no_credential(
    airflow_db: Path,
    airflow_home: Path,
    leakcheck_emulator: EmulatorProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bearer auth through upload, the trigger (aiohttp) and the resumed sensor, in this process."""
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from sqlalchemy import select

    emulator = leakcheck_emulator
    emulator.client.reset()
    emulator.client.configure(processing_delay=1)  # long enough for the sensor to defer
    monkeypatch.setenv("AIRFLOW_CONN_GONG_DEFAULT", bearer_connection(emulator))
    source = write_contacts(tmp_path / "contacts.ldjson", ["token-1", "token-2"])
    result = run_dag(
        faults_dags().faults_upload_wait_deferrable, conf_for(emulator, file=str(source)), capsys
    )
    assert result.state == "success", result.output[-4000:]
    assert set(emulator.client.entities("CONTACT")) == {"token-1", "token-2"}
    found = hits(result.output, "the run's output")
    for key, value in result.xcoms.items():
        found += hits(json.dumps(value, default=repr), f"XCom {key}")
    client_request_id = result.xcom("upload")["client_request_id"]
    with create_session() as session:
        triggers = [(t.classpath, t.kwargs) for t in session.scalars(select(Trigger))]
    mine = [kwargs for _, kwargs in triggers if kwargs.get("client_request_id") == client_request_id]
    assert mine, "the wait was not deferred: no trigger row of this run to search"
    for classpath, kwargs in triggers:
        found += hits(json.dumps(kwargs, default=repr), f"trigger {classpath}")
    for path in files_under(airflow_home):
        found += hits(path.read_bytes(), str(path))
    assert found == []


# ----------------------------------------------------------------------------- failing runs, in process


@pytest.fixture
def session_emulator(
    airflow_db: Path, emulator: EmulatorProcess, emulator_client: EmulatorClient
) -> EmulatorProcess:
    """The session emulator: it accepts its default credentials only, never the LEAKCHECK ones."""
    return emulator


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_a_refused_credential_fails_the_task_without_showing_it(
    auth: str,
    session_emulator: EmulatorProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator = session_emulator
    connection = basic_connection(emulator) if auth == "basic" else bearer_connection(emulator)
    monkeypatch.setenv("AIRFLOW_CONN_GONG_DEFAULT", connection)
    source = write_contacts(tmp_path / "contacts.ldjson", ["leak-1"])
    result = run_dag(faults_dags().faults_upload_wait, conf_for(emulator, file=str(source)), capsys)
    assert result.state == "failed"
    assert result.state_of("upload") == "failed"
    assert "401" in result.output  # the failure is explained...
    assert hits(result.output, "the task's output") == []  # ...without the credential
    for value in result.xcoms.values():
        assert hits(json.dumps(value, default=repr), "XCom") == []


def test_exception_texts_of_the_hook_hold_no_credential(
    session_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """str, repr and the formatted traceback of what a user's own code would catch."""
    import traceback

    from gong_provider.exceptions import GongError
    from gong_provider.hooks.gong import GongCrmHook

    for connection in (basic_connection(session_emulator), bearer_connection(session_emulator)):
        monkeypatch.setenv("AIRFLOW_CONN_GONG_DEFAULT", connection)
        with pytest.raises(GongError) as raised:
            GongCrmHook(calls_per_second=0).list_integrations()
        error = raised.value
        text = "".join(traceback.format_exception(error)) + repr(error) + repr(error.__dict__)
        assert "401" in str(error)
        assert hits(text, "the exception") == []
