"""The session PostgreSQL server (tests/fixtures/postgres.py): a real server over TCP on 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.fixtures.postgres import EmbeddedPostgres


def test_server_is_postgresql_18_on_loopback_tcp(postgres_server: EmbeddedPostgres) -> None:
    database = postgres_server.create_database("fixture_check")
    conn = database.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute("show server_version_num")
            (version,) = cursor.fetchone()
            cursor.execute("select inet_server_addr()::text, inet_server_port(), current_database()")
            address, port, name = cursor.fetchone()
    finally:
        conn.close()
    assert int(version) // 10000 == 18
    assert (address, port, name) == ("127.0.0.1/32", postgres_server.port, "fixture_check")


def test_urls_reach_the_database_through_sqlalchemy_and_an_airflow_connection(
    postgres_server: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy
    from airflow.sdk import BaseHook

    database = postgres_server.create_database("fixture_urls")
    engine = sqlalchemy.create_engine(database.sqlalchemy_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(sqlalchemy.text("select current_database()")).scalar() == "fixture_urls"
    finally:
        engine.dispose()
    monkeypatch.setenv("AIRFLOW_CONN_CRM_PG", database.airflow_conn_uri)
    airflow_conn = BaseHook.get_connection("crm_pg")
    assert (airflow_conn.conn_type, airflow_conn.host, airflow_conn.port, airflow_conn.schema) == (
        "postgres",
        "127.0.0.1",
        postgres_server.port,
        "fixture_urls",
    )
    hook = airflow_conn.get_hook()
    assert hook.get_first("select current_database()") == ("fixture_urls",)


def test_create_database_starts_empty(postgres_server: EmbeddedPostgres) -> None:
    database = postgres_server.create_database("fixture_fresh")
    conn = database.connect()
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("create table leftover (id int)")
    finally:
        conn.close()
    conn = postgres_server.create_database("fixture_fresh").connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute("select count(*) from pg_tables where tablename = 'leftover'")
            assert cursor.fetchone() == (0,)
    finally:
        conn.close()


def test_stop_removes_the_server_and_its_directory() -> None:
    import psutil

    server = EmbeddedPostgres().start()
    assert server.base is not None
    base, pid = server.base, int((server.pgdata / "postmaster.pid").read_text().split()[0])
    assert psutil.pid_exists(pid)
    server.stop()
    assert not base.exists()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
