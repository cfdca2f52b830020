"""SqlSource on a real PostgreSQL server (tests/fixtures/postgres.py) through an Airflow ``postgres``
connection, with both drivers the postgres provider can use (psycopg 3, its default with SQLAlchemy 2,
and psycopg2): the staged output equals the file source's for the same records, rows are fetched in
batches from a server-side cursor, and a bad row is rejected with its row number and objectId."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from gong_provider.staging import GongRejectLimitError, SqlSource, stage
from tests.fixtures.postgres import EmbeddedPostgres, PostgresDatabase

ROWS = 2_000
CONN_ID = "crm_pg"
COLUMNS = ("objectId", "modifiedDate", "accountId", "emailAddress", "firstName", "lastName", "title")
QUERY = (
    'select object_id as "objectId", modified_at as "modifiedDate", account_id as "accountId", '
    'email as "emailAddress", first_name as "firstName", last_name as "lastName", title '
    "from contacts order by id"
)


def contact(number: int) -> dict[str, Any]:
    return {
        "objectId": f"con-{number:06d}",
        "modifiedDate": f"2026-{number % 9 + 1:02d}-{number % 28 + 1:02d} "
        f"{number % 24:02d}:{number % 60:02d}:07",
        "accountId": f"acc-{number // 7:05d}",
        "emailAddress": f"person.{number}@company{number % 50}.example",
        "firstName": ["Maya", "Daniel", "Sofia", "Arjun"][number % 4],
        "lastName": ["Okafor", "Reyes", "Lindqvist"][number % 3],
        "title": None if number % 5 == 0 else "Analyst",
    }


def load_contacts(database: PostgresDatabase, records: list[dict[str, Any]]) -> None:
    from psycopg2.extras import execute_values

    conn = database.connect()
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute("drop table if exists contacts")
            cursor.execute(
                "create table contacts (id serial primary key, object_id text, modified_at timestamp, "
                "account_id text, email text, first_name text, last_name text, title text)"
            )
            execute_values(
                cursor,
                "insert into contacts (object_id, modified_at, account_id, email, first_name, last_name, "
                "title) values %s",
                [tuple(record[column] for column in COLUMNS) for record in records],
                page_size=1000,
            )
    finally:
        conn.close()


def write_csv(path: Path, records: list[dict[str, Any]]) -> Path:
    """The same records as a CRM's CSV export (an empty cell for NULL)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in record.items()} for record in records)
    return path


@pytest.fixture(params=["psycopg", "psycopg2"])
def driver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The postgres provider's driver: psycopg 3 when installed with SQLAlchemy 2, else psycopg2."""
    from airflow.providers.postgres.hooks import postgres

    monkeypatch.setattr(postgres, "USE_PSYCOPG3", request.param == "psycopg")
    return str(request.param)


@pytest.fixture(scope="module")
def crm(postgres_server: EmbeddedPostgres) -> PostgresDatabase:
    database = postgres_server.create_database("crm")
    load_contacts(database, [contact(number) for number in range(1, ROWS + 1)])
    return database


@pytest.fixture
def crm_conn(crm: PostgresDatabase, monkeypatch: pytest.MonkeyPatch, driver: str) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", crm.airflow_conn_uri)
    return CONN_ID


def staged_lines(manifest: Any) -> list[bytes]:
    return [line for staged in manifest.files for line in Path(staged.path).read_bytes().splitlines()]


def test_sql_output_equals_the_file_source_output(crm_conn: str, tmp_path: Path, driver: str) -> None:
    export = write_csv(tmp_path / "contacts.csv", [contact(number) for number in range(1, ROWS + 1)])
    from_sql = stage(
        SqlSource(conn_id=crm_conn, sql=QUERY, batch_size=300),
        object_type="CONTACT",
        out_dir=tmp_path / "sql",
    )
    from_file = stage(export, object_type="CONTACT", out_dir=tmp_path / "file")
    assert from_sql.records_read == from_sql.records_staged == ROWS
    assert staged_lines(from_sql) == staged_lines(from_file)
    assert [f.sha256 for f in from_sql.files] == [f.sha256 for f in from_file.files]
    first = json.loads(staged_lines(from_sql)[0])
    assert first["objectId"] == "con-000001"
    assert first["modifiedDate"] == "2026-02-02T01:01:07Z"


def test_rows_come_in_batches_from_a_server_side_cursor(crm: PostgresDatabase, crm_conn: str) -> None:
    """While the source is read, the server holds the result: its session FETCHes from a cursor."""
    records = SqlSource(conn_id=crm_conn, sql=QUERY, batch_size=250).records()
    try:
        assert next(records).number == 1
        observer = crm.connect()
        try:
            with observer.cursor() as cursor:
                cursor.execute(
                    "select query from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
                    (crm.name,),
                )
                queries = [row[0] for row in cursor.fetchall()]
        finally:
            observer.close()
        assert any(q.upper().startswith("FETCH FORWARD 250 FROM") for q in queries), queries
        assert sum(1 for _ in records) == ROWS - 1
    finally:
        records.close()


def test_a_bad_row_is_rejected_with_its_row_number_and_object_id(
    crm: PostgresDatabase, crm_conn: str, tmp_path: Path
) -> None:
    query = QUERY.replace(
        'email as "emailAddress"',
        "case when object_id = 'con-001234' then 'not an email' else email end as \"emailAddress\"",
    )
    source = SqlSource(conn_id=crm_conn, sql=query, batch_size=500)
    with pytest.raises(GongRejectLimitError) as raised:
        stage(source, object_type="CONTACT", out_dir=tmp_path / "strict")
    assert "record 1234 objectId con-001234" in str(raised.value), str(raised.value)
    assert "emailAddress" in str(raised.value)

    manifest = stage(source, object_type="CONTACT", out_dir=tmp_path / "lenient", max_reject_ratio=0.01)
    assert (manifest.records_staged, manifest.records_rejected) == (ROWS - 1, 1)
    (reject,) = [json.loads(line) for line in Path(manifest.rejects_path or "").read_text().splitlines()]
    assert (reject["source"], reject["record"], reject["line"], reject["objectId"]) == (
        f"sql:{CONN_ID}",
        1234,
        None,
        "con-001234",
    )
    assert reject["reasons"][0]["field"] == "emailAddress"
