"""The emulator's state in one SQLite file, so it survives a restart and can be inspected.

Tables: ``integrations``; ``requests`` (uploads and integration deletes with their processing
state, checkpoint and errors); ``entities`` (one row per objectId and type: the record as sent, or
NULL once deleted, plus how many times it was accepted); ``schemas`` (custom fields per type);
``upload_counts`` and ``request_log`` (for exactly-once proofs); ``bad_ids`` (objectIds of invalid
lines of the file being processed, to flag later lines with the same objectId); ``user_emails``
(the email each business user was created with, see ``gong_provider.emulator.user_emails``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

import msgspec

from gong_provider.emulator import user_emails as _user_emails

SCHEMA_SQL = (
    """
CREATE TABLE IF NOT EXISTS integrations (
    integration_id INTEGER PRIMARY KEY,
    owner_email TEXT NOT NULL,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    client_request_id TEXT NOT NULL UNIQUE,
    integration_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    object_type TEXT,
    file_path TEXT,
    file_bytes INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    accepted_at REAL NOT NULL,
    in_progress_at REAL NOT NULL,
    ready_at REAL NOT NULL,
    forced_error TEXT,
    processed_lines INTEGER NOT NULL DEFAULT 0,
    errors TEXT NOT NULL DEFAULT '[]',
    total_error_count INTEGER NOT NULL DEFAULT 0,
    total_success_count INTEGER NOT NULL DEFAULT 0,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS entities (
    integration_id INTEGER NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    data TEXT,
    accept_count INTEGER NOT NULL,
    last_request INTEGER NOT NULL,
    last_line INTEGER NOT NULL,
    PRIMARY KEY (integration_id, object_type, object_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bad_ids (
    request_seq INTEGER NOT NULL,
    object_id TEXT NOT NULL,
    line INTEGER NOT NULL,
    PRIMARY KEY (request_seq, object_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS schemas (
    integration_id INTEGER NOT NULL,
    object_type TEXT NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (integration_id, object_type)
);
CREATE TABLE IF NOT EXISTS upload_counts (
    client_request_id TEXT PRIMARY KEY,
    count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS request_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER,
    client_request_id TEXT,
    records INTEGER,
    request_id TEXT,
    dropped INTEGER NOT NULL DEFAULT 0
);
"""
    + _user_emails.SCHEMA_SQL
)

TERMINAL_STATES = ("DONE", "FAILED")


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL so readers never wait."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


@dataclass(frozen=True)
class RequestRow:
    """One asynchronous request (an upload or an integration delete)."""

    seq: int
    client_request_id: str
    integration_id: int
    kind: str
    object_type: str | None
    file_path: str | None
    file_bytes: int
    status: str
    accepted_at: float
    in_progress_at: float
    ready_at: float
    forced_error: str | None
    processed_lines: int
    errors: list[dict[str, Any]]
    total_error_count: int
    total_success_count: int
    finished_at: float | None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> RequestRow:
        """A row selected with :data:`REQUEST_COLUMNS` (the fields, in order; errors as JSON)."""
        values = dict(zip(REQUEST_FIELDS, row, strict=True))
        values["errors"] = msgspec.json.decode(values["errors"])
        return cls(**values)


REQUEST_FIELDS = tuple(f.name for f in dataclass_fields(RequestRow))
REQUEST_COLUMNS = ", ".join(REQUEST_FIELDS)


class Store:
    """Reads and small writes from the event loop; bulk processing uses its own connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = connect(path)
        self.db.executescript(SCHEMA_SQL)

    def close(self) -> None:
        self.db.close()

    # integrations

    def list_integrations(self) -> list[tuple[int, str, str]]:
        rows = self.db.execute(
            "SELECT integration_id, owner_email, name FROM integrations ORDER BY integration_id"
        ).fetchall()
        return [(int(row[0]), str(row[1]), str(row[2])) for row in rows]

    def has_integration(self, integration_id: int) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM integrations WHERE integration_id = ?", (integration_id,)
        ).fetchone()
        return row is not None

    def add_integration(self, integration_id: int, owner_email: str, name: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO integrations VALUES (?, ?, ?)", (integration_id, owner_email, name)
        )

    # requests

    def client_request_id_used(self, client_request_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM requests WHERE client_request_id = ?", (client_request_id,)
        ).fetchone()
        return row is not None

    def insert_request(
        self,
        *,
        client_request_id: str,
        integration_id: int,
        kind: str,
        object_type: str | None,
        file_path: str | None,
        file_bytes: int,
        in_progress_delay: float,
        ready_delay: float,
        forced_error: str | None,
    ) -> bool:
        """Record an accepted request; False when the clientRequestId was already used."""
        now = time.time()
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "INSERT INTO requests (client_request_id, integration_id, kind, object_type, file_path,"
                " file_bytes, status, accepted_at, in_progress_at, ready_at, forced_error)"
                " VALUES (?, ?, ?, ?, ?, ?, 'PENDING', ?, ?, ?, ?)",
                (
                    client_request_id,
                    integration_id,
                    kind,
                    object_type,
                    file_path,
                    file_bytes,
                    now,
                    now + in_progress_delay,
                    now + ready_delay,
                    forced_error,
                ),
            )
            if kind == "UPLOAD":
                self.db.execute(
                    "INSERT INTO upload_counts VALUES (?, 1)"
                    " ON CONFLICT(client_request_id) DO UPDATE SET count = count + 1",
                    (client_request_id,),
                )
            self.db.execute("COMMIT")
        except sqlite3.IntegrityError:
            self.db.execute("ROLLBACK")
            return False
        return True

    def get_request(self, client_request_id: str) -> RequestRow | None:
        row = self.db.execute(
            f"SELECT {REQUEST_COLUMNS} FROM requests WHERE client_request_id = ?", (client_request_id,)
        ).fetchone()
        return None if row is None else RequestRow.from_row(row)

    def next_job(self) -> RequestRow | None:
        """The oldest request not yet finished: requests are processed one at a time, in order."""
        row = self.db.execute(
            f"SELECT {REQUEST_COLUMNS} FROM requests WHERE status NOT IN {TERMINAL_STATES!r}"
            " ORDER BY seq LIMIT 1"
        ).fetchone()
        return None if row is None else RequestRow.from_row(row)

    def list_requests(self) -> list[RequestRow]:
        rows = self.db.execute(f"SELECT {REQUEST_COLUMNS} FROM requests ORDER BY seq").fetchall()
        return [RequestRow.from_row(row) for row in rows]

    def upload_counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT client_request_id, count FROM upload_counts").fetchall()
        return {str(row[0]): int(row[1]) for row in rows}

    # entities

    def get_entities(
        self, integration_id: int, object_type: str, object_ids: Sequence[str]
    ) -> dict[str, dict[str, Any] | None]:
        found: dict[str, dict[str, Any] | None] = dict.fromkeys(object_ids)
        for start in range(0, len(object_ids), 500):
            chunk = list(object_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                "SELECT object_id, data FROM entities WHERE integration_id = ? AND object_type = ?"
                f" AND data IS NOT NULL AND object_id IN ({marks})",
                (integration_id, object_type, *chunk),
            ).fetchall()
            for object_id, data in rows:
                found[object_id] = msgspec.json.decode(data)
        return found

    def stored_entities(self, object_type: str, integration_id: int | None) -> dict[str, Any]:
        sql = "SELECT object_id, data FROM entities WHERE object_type = ? AND data IS NOT NULL"
        params: tuple[Any, ...] = (object_type,)
        if integration_id is not None:
            sql += " AND integration_id = ?"
            params += (integration_id,)
        rows = self.db.execute(sql + " ORDER BY object_id", params).fetchall()
        return {str(object_id): msgspec.json.decode(data) for object_id, data in rows}

    def record_counts(self, object_type: str, integration_id: int | None) -> dict[str, int]:
        sql = "SELECT object_id, accept_count FROM entities WHERE object_type = ?"
        params: tuple[Any, ...] = (object_type,)
        if integration_id is not None:
            sql += " AND integration_id = ?"
            params += (integration_id,)
        rows = self.db.execute(sql + " ORDER BY object_id", params).fetchall()
        return {str(object_id): int(count) for object_id, count in rows}

    def user_emails(self, integration_id: int | None) -> dict[str, str]:
        return _user_emails.user_emails(self.db, integration_id)

    # schemas

    def get_schema(self, integration_id: int, object_type: str) -> list[dict[str, Any]]:
        row = self.db.execute(
            "SELECT fields FROM schemas WHERE integration_id = ? AND object_type = ?",
            (integration_id, object_type),
        ).fetchone()
        return [] if row is None else list(msgspec.json.decode(row[0]))

    def set_schema(
        self,
        integration_id: int,
        object_type: str,
        fields: list[dict[str, Any]],
        removed_fields: Iterable[str],
    ) -> None:
        """Replace the schema and strip the values of removed (or retyped) fields from stored records."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute(
                "INSERT OR REPLACE INTO schemas VALUES (?, ?, ?)",
                (integration_id, object_type, msgspec.json.encode(fields).decode()),
            )
            for name in removed_fields:
                path = "$." + msgspec.json.encode(name).decode()
                self.db.execute(
                    "UPDATE entities SET data = json_remove(data, ?)"
                    " WHERE integration_id = ? AND object_type = ? AND data IS NOT NULL",
                    (path, integration_id, object_type),
                )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    # request log

    def log_request(
        self,
        *,
        method: str,
        path: str,
        status: int | None,
        client_request_id: str | None,
        records: int | None,
        request_id: str | None,
        dropped: bool = False,
    ) -> None:
        self.db.execute(
            "INSERT INTO request_log (time, method, path, status, client_request_id, records,"
            " request_id, dropped) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), method, path, status, client_request_id, records, request_id, int(dropped)),
        )

    def request_log(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT time, method, path, status, client_request_id, records, request_id, dropped"
            " FROM request_log ORDER BY id"
        ).fetchall()
        return [
            {
                "time": row[0],
                "method": row[1],
                "path": row[2],
                "status": row[3],
                "clientRequestId": row[4],
                "records": row[5],
                "requestId": row[6],
                "dropped": bool(row[7]),
            }
            for row in rows
        ]

    # reset

    def reset(self, integrations: Iterable[tuple[int, str, str]]) -> list[str]:
        """Forget everything but the given integrations; returns upload files to delete."""
        files = [
            str(row[0])
            for row in self.db.execute("SELECT file_path FROM requests WHERE file_path IS NOT NULL")
        ]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for table in (
                "integrations",
                "requests",
                "entities",
                "bad_ids",
                "schemas",
                "upload_counts",
                "request_log",
                "user_emails",
            ):
                self.db.execute(f"DELETE FROM {table}")
            self.db.executemany("INSERT INTO integrations VALUES (?, ?, ?)", list(integrations))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return files
