"""SqlSource against a real SQLite database through Airflow's sqlite provider (no metadata DB needed:
the connection comes from an AIRFLOW_CONN_* environment variable)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

from gong_provider.staging import GongSourceError, SqlSource, locate_lines, stage, validate


@pytest.fixture
def crm_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = tmp_path / "crm.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "create table deals "
            "(id text, modified text, amount text, status text, closes text, deleted integer)"
        )
        db.executemany(
            "insert into deals values (?, ?, ?, ?, ?, ?)",
            [
                ("d-1", "2026-01-02 10:00:00", "7000", "open", "2026-03-01", 0),
                ("d-2", "2026-01-03 11:30:00.250", "12.5", "WON", "2026-03-02 00:00:00", 0),
                ("d-3", "2026-01-04 12:00:00", "7k", "OPEN", None, 1),
                ("d-1", "2026-01-05 09:00:00", "8000", "LOST", "2026-03-01", 0),
                ("d-4", "2026-02-01 09:00:00", "1", "OPEN", None, 0),
            ],
        )
    monkeypatch.setenv("AIRFLOW_CONN_CRM_SQLITE", f"sqlite://{path}")  # sqlite:///tmp/.../crm.db
    return "crm_sqlite"


QUERY = (
    "select id as objectId, modified as modifiedDate, amount, status, closes as closeDate, "
    "deleted as isDeleted from deals where modified < :until order by rowid"
)


def test_sql_rows_are_staged_in_batches(crm_db: str, tmp_path: Path) -> None:
    source = SqlSource(conn_id=crm_db, sql=QUERY, parameters={"until": "2026-02-01"}, batch_size=2)
    manifest = stage(
        source, object_type="DEAL", out_dir=tmp_path, timezone="Europe/Paris", max_reject_ratio=0.5
    )
    assert (manifest.records_read, manifest.records_staged, manifest.records_rejected) == (4, 3, 1)
    assert manifest.sources == ["sql:crm_sqlite"]
    first = [json.loads(line) for line in Path(manifest.files[0].path).read_text().splitlines()]
    assert first[0] == {
        "objectId": "d-1",
        "modifiedDate": "2026-01-02T10:00:00+01:00",
        "amount": 7000,
        "status": "OPEN",
        "closeDate": "2026-03-01",
        "isDeleted": False,
    }
    assert first[1]["modifiedDate"] == "2026-01-03T11:30:00+01:00"
    assert first[1]["closeDate"] == "2026-03-02"
    located = locate_lines(manifest.files[1], [1])[1]
    assert (located.object_id, located.source, located.source_line) == ("d-1", "sql:crm_sqlite", 4)
    (reject,) = [json.loads(line) for line in Path(manifest.rejects_path or "").read_text().splitlines()]
    assert reject["record"] == 3
    assert reject["line"] is None
    assert reject["reasons"][0]["field"] == "amount"


def test_database_values_are_normalized(tmp_path: Path) -> None:
    """What DB-API drivers return: datetime, date, Decimal, int booleans."""
    from decimal import Decimal

    rows = [
        {
            "objectId": "d-1",
            "modifiedDate": dt.datetime(2026, 1, 2, 10, 0, 0, 123456),
            "createdDate": dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "closeDate": dt.date(2026, 3, 1),
            "amount": Decimal("1234.50"),
            "isDeleted": 0,
            "custom_when": dt.datetime(2026, 1, 1, 8, 0),
        }
    ]
    manifest = stage(rows, object_type="DEAL", out_dir=tmp_path)
    (record,) = [json.loads(line) for line in Path(manifest.files[0].path).read_text().splitlines()]
    assert record == {
        "objectId": "d-1",
        "modifiedDate": "2026-01-02T10:00:00Z",
        "createdDate": "2026-01-01T08:00:00+02:00",
        "closeDate": "2026-03-01",
        "amount": 1234.5,
        "isDeleted": False,
        "custom_when": "2026-01-01T08:00:00Z",
    }


def test_a_non_sql_connection_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NOT_SQL", '{"conn_type": "http", "host": "http://127.0.0.1:1"}')
    with pytest.raises(GongSourceError, match="not a SQL database connection"):
        validate(SqlSource(conn_id="not_sql", sql="select 1"), object_type="DEAL")
