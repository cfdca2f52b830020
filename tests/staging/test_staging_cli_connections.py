"""The CLI reads connections stored in the metadata database, as `airflow connections add` leaves them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gong_provider.cli import main


@pytest.fixture
def stored_sqlite_connection(airflow_db: Path, tmp_path: Path) -> Iterator[str]:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    database = tmp_path / "crm.db"
    sqlite3.connect(database).close()
    conn_id = "crm_db_stored"
    with create_session() as session:
        session.add(Connection(conn_id=conn_id, conn_type="sqlite", host=str(database)))
    yield conn_id
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == conn_id).delete()


def test_validate_reads_a_connection_stored_in_the_metadata_database(
    stored_sqlite_connection: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(f"AIRFLOW_CONN_{stored_sqlite_connection.upper()}", raising=False)
    query = "select 'c1' as objectId, '2026-01-01T00:00:00Z' as modifiedDate, 'Ann' as firstName"
    code = main(["validate", query, "--conn-id", stored_sqlite_connection, "--type", "CONTACT"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0, out
    assert "valid │ 1" in out


def test_a_missing_connection_is_named_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", "select 1", "--conn-id", "no_such_conn", "--type", "CONTACT"])
    err = capsys.readouterr().err
    assert code == 2
    assert "connection 'no_such_conn'" in err
    assert "Traceback" not in err


def test_the_gong_hook_names_a_missing_connection_outside_a_task() -> None:
    from gong_provider.hooks.gong import GongCrmHook

    ok, message = GongCrmHook("gong_missing_conn").test_connection()
    assert not ok
    assert "gong_missing_conn" in message
    assert "<unavailable>" not in message


def test_validate_checks_custom_fields_against_the_schema_registered_in_gong(
    gong_connection_env: str,
    emulator: Any,
    emulator_client: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gong_provider.hooks.gong import GongCrmHook
    from gong_provider.models import CustomField

    with GongCrmHook(gong_connection_env) as hook:
        hook.set_entity_schema(
            emulator.integration_id,
            "DEAL",
            [CustomField("tier", "Tier", "PICKLIST", ordered_value_list=["Gold"])],
        )
    source = tmp_path / "deals.csv"
    source.write_text(
        "objectId,modifiedDate,tier\nd-1,2026-01-01T00:00:00Z,Gold\nd-2,2026-01-01T00:00:00Z,Bronze\n"
    )
    argv = ["validate", str(source), "--type", "DEAL", "--integration-id", str(emulator.integration_id)]
    code = main(argv)
    out = " ".join(capsys.readouterr().out.split())
    assert code == 1
    assert "rejected │ 1" in out
    assert "objectId d-2: tier:" in out

    code = main([*argv, "--gong-conn-id", "no_such_gong"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no_such_gong" in err
    assert "Traceback" not in err
