"""The CLI reads connections stored in the metadata database, as `airflow connections add` leaves them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

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
