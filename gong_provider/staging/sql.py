"""SQL source: a query on any Airflow DB connection (common.sql ``DbApiHook``), read in batches.

Rows are fetched ``batch_size`` at a time with ``fetchmany``; on PostgreSQL a named (server-side)
cursor and on MySQL an unbuffered ``SSCursor`` keep the result set on the server, so memory stays flat
whatever the row count. Other drivers (SQLite, ...) stream with a plain cursor.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gong_provider.staging.errors import GongSourceError
from gong_provider.staging.readers import SourceRecord


@dataclass(frozen=True)
class SqlSource:
    """A query on an Airflow DB connection, read in batches: a source for :func:`stage` and :func:`validate`.

    :param conn_id: an Airflow connection whose hook is a ``DbApiHook`` (common.sql).
    :param sql: the query; its column names are Gong's field names, or are renamed with ``mapping``.
    :param parameters: bind parameters of the query.
    :param batch_size: rows fetched at a time.
    :param name: how rejects and sources name this source (default ``sql:<conn_id>``).
    """

    conn_id: str
    sql: str
    parameters: Mapping[str, Any] | Sequence[Any] | None = None
    batch_size: int = 10_000
    name: str = field(default="")

    def __str__(self) -> str:
        return self.name or f"sql:{self.conn_id}"

    def hook(self) -> Any:
        from airflow.providers.common.sql.hooks.sql import DbApiHook
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            connection = BaseHook.get_connection(self.conn_id)
        except AirflowNotFoundException as error:  # say which id, without a traceback through the SDK
            raise GongSourceError(f"connection {self.conn_id!r}: {error}") from None
        hook = connection.get_hook()  # type: ignore[no-untyped-call]
        if not isinstance(hook, DbApiHook):
            raise GongSourceError(f"connection {self.conn_id!r} is not a SQL database connection")
        return hook

    def records(self) -> Iterator[SourceRecord]:
        hook = self.hook()
        name = str(self)
        conn = hook.get_conn()
        try:
            cursor = _server_side_cursor(conn)
            try:
                if self.parameters is None:
                    cursor.execute(self.sql)
                else:
                    cursor.execute(self.sql, self.parameters)
                # psycopg2's named cursor describes its columns only once it has fetched
                rows = cursor.fetchmany(self.batch_size)
                columns = [str(column[0]) for column in cursor.description or ()]
                if len(set(columns)) != len(columns):
                    raise GongSourceError(f"{name}: the query returns a column name twice: {columns}")
                number = 0
                while rows:
                    for row in rows:
                        number += 1
                        yield SourceRecord(name, None, number, dict(zip(columns, row, strict=True)))
                    rows = cursor.fetchmany(self.batch_size)
            finally:
                cursor.close()
        finally:
            conn.close()


def _server_side_cursor(conn: Any) -> Any:
    module = type(conn).__module__
    if module.startswith(("psycopg2", "psycopg")):
        return conn.cursor(name="gong_staging")
    if module.startswith("MySQLdb"):
        import MySQLdb.cursors  # type: ignore[import-untyped]

        return conn.cursor(MySQLdb.cursors.SSCursor)
    return conn.cursor()
