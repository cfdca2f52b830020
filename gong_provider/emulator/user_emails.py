"""Gong's rule for business users: an email is tied to a user when the user is first created.

Gong's documentation: "To update an existing user: delete the existing user by uploading it with
isDeleted=true; in a new request, send the new user details." The emulator keeps one email per
business user in ``user_emails``: set when the user is created (or re-created after a delete),
removed by a delete, and left alone by a plain upsert of an existing user, so a changed email sent
as a plain upsert stays associated with the old address, as in Gong.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import msgspec

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS user_emails (
    integration_id INTEGER NOT NULL,
    object_id TEXT NOT NULL,
    email TEXT NOT NULL,
    PRIMARY KEY (integration_id, object_id)
) WITHOUT ROWID;
"""


def apply_user_rows(db: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Apply accepted BUSINESS_USER rows ``(integration, type, objectId, data or None, ...)``.

    Runs inside the caller's transaction, after the rows were written to ``entities``.
    """
    deletes = [(row[0], row[2]) for row in rows if row[3] is None]
    creates = [
        (row[0], row[2], str(msgspec.json.decode(row[3]).get("emailAddress", "")))
        for row in rows
        if row[3] is not None
    ]
    if deletes:
        db.executemany("DELETE FROM user_emails WHERE integration_id = ? AND object_id = ?", deletes)
    if creates:
        db.executemany("INSERT OR IGNORE INTO user_emails VALUES (?, ?, ?)", creates)


def user_emails(db: sqlite3.Connection, integration_id: int | None) -> dict[str, str]:
    """objectId -> the email Gong associates with the user (the one it was created with)."""
    sql = "SELECT object_id, email FROM user_emails"
    params: tuple[Any, ...] = ()
    if integration_id is not None:
        sql += " WHERE integration_id = ?"
        params = (integration_id,)
    rows = db.execute(sql + " ORDER BY object_id", params).fetchall()
    return {str(object_id): str(email) for object_id, email in rows}
