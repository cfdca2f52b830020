"""Asynchronous processing of accepted requests, like Gong's: PENDING -> IN_PROGRESS -> DONE/FAILED.

Requests are processed one at a time, in the order they were accepted, in a worker thread with its
own SQLite connection, so the server stays responsive. A file is read line by line and written in
batches; each batch commits together with a checkpoint (lines done, errors so far), so a request
interrupted by a shutdown resumes where it stopped after a restart, and no record is applied twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec

from gong_provider.emulator.rules import MAX_ERRORS, LineChecker, duplicate_problem
from gong_provider.emulator.store import RequestRow, Store, connect
from gong_provider.emulator.user_emails import apply_user_rows

log = logging.getLogger(__name__)

BATCH_LINES = 5000
REFUSE_EVERY_LINE = "refuse-every-line:"
"""Prefix of a request's ``forced_error`` set by the ``done_with_errors`` fault: every record line is
refused with the rest as its description, and the request still ends DONE."""
MAX_WAIT_SECONDS = 5.0

UPSERT_SQL = (
    "INSERT INTO entities VALUES (?, ?, ?, ?, 1, ?, ?)"
    " ON CONFLICT(integration_id, object_type, object_id) DO UPDATE SET data = excluded.data,"
    " accept_count = accept_count + 1, last_request = excluded.last_request,"
    " last_line = excluded.last_line WHERE entities.last_request IS NOT excluded.last_request"
)
"""Upsert by objectId; a second line with the same objectId in the same request changes nothing,
which is how duplicates inside one file are detected (see ``_flush``)."""


class UploadProcessor:
    """Applies one upload file to the entities table, checkpointing every batch."""

    def __init__(
        self, db: sqlite3.Connection, job: RequestRow, cancel: threading.Event, refuse: str | None = None
    ) -> None:
        assert job.object_type is not None
        self.refuse = refuse
        """Every line is refused with this description (the ``done_with_errors`` fault)."""
        assert job.file_path is not None
        self.db = db
        self.job = job
        self.cancel = cancel
        self.object_type = job.object_type
        self.errors: list[dict[str, Any]] = list(job.errors)
        self.error_count = job.total_error_count
        self.success_count = job.total_success_count
        self.has_bad_ids = (
            db.execute("SELECT 1 FROM bad_ids WHERE request_seq = ? LIMIT 1", (job.seq,)).fetchone()
            is not None
        )
        fields = db.execute(
            "SELECT fields FROM schemas WHERE integration_id = ? AND object_type = ?",
            (job.integration_id, job.object_type),
        ).fetchone()
        self.checker = LineChecker(job.object_type, msgspec.json.decode(fields[0]) if fields else ())

    def run(self) -> bool:
        """Process the rest of the file; False when cancelled (state is checkpointed)."""
        check = self.checker.check
        key = (self.job.integration_id, self.object_type)
        seq = self.job.seq
        good: list[tuple[Any, ...]] = []
        bad: list[tuple[int, str | None, str]] = []
        line_no = self.job.processed_lines
        assert self.job.file_path is not None
        with open(self.job.file_path, "rb") as stream:
            for line_no, raw in _numbered_lines(stream, self.job.processed_lines):
                text = raw.strip()
                if not text:
                    bad.append((line_no, None, "Empty line: each line must hold one JSON object"))
                else:
                    object_id, is_deleted, problems = check(text)
                    problems = [self.refuse] if self.refuse is not None else problems
                    if problems:
                        bad.append((line_no, object_id, "; ".join(problems)))
                    else:
                        good.append((*key, object_id, None if is_deleted else text.decode(), seq, line_no))
                if len(good) + len(bad) >= BATCH_LINES:
                    self._flush(good, bad, line_no)
                    good, bad = [], []
                    if self.cancel.is_set():
                        return False
        self._flush(good, bad, line_no)
        return True

    def _flush(
        self, good: list[tuple[Any, ...]], bad: list[tuple[int, str | None, str]], line_no: int
    ) -> None:
        db = self.db
        seq = self.job.seq
        line_errors = [(line, problem) for line, _, problem in bad]
        db.execute("BEGIN IMMEDIATE")
        try:
            bad_ids = [(seq, object_id, line) for line, object_id, _ in bad if object_id is not None]
            if bad_ids:
                db.executemany("INSERT OR IGNORE INTO bad_ids VALUES (?, ?, ?)", bad_ids)
                self.has_bad_ids = True
            if self.has_bad_ids and good:
                good = self._drop_after_bad(good, line_errors)
            if good:
                written = db.executemany(UPSERT_SQL, good).rowcount
                if written < len(good):
                    good = self._drop_duplicates(good, line_errors)
                if self.object_type == "BUSINESS_USER":
                    apply_user_rows(db, good)
            self.success_count += len(good)
            self._add_errors(line_errors)
            db.execute(
                "UPDATE requests SET status = 'IN_PROGRESS', processed_lines = ?, errors = ?,"
                " total_error_count = ?, total_success_count = ? WHERE seq = ?",
                (
                    line_no,
                    msgspec.json.encode(self.errors).decode(),
                    self.error_count,
                    self.success_count,
                    seq,
                ),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _lookup(self, sql: str, object_ids: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(object_ids), 500):
            chunk = object_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for object_id, line in self.db.execute(sql.format(marks=marks), (self.job.seq, *chunk)):
                found[object_id] = line
        return found

    def _drop_after_bad(
        self, good: list[tuple[Any, ...]], line_errors: list[tuple[int, str]]
    ) -> list[tuple[Any, ...]]:
        """A valid line whose objectId was on an earlier invalid line is a repeated update too."""
        first_bad = self._lookup(
            "SELECT object_id, line FROM bad_ids WHERE request_seq = ? AND object_id IN ({marks})",
            [row[2] for row in good],
        )
        kept = []
        for row in good:
            first = first_bad.get(row[2])
            if first is not None and first < row[5]:
                line_errors.append((row[5], duplicate_problem(row[2], first)))
            else:
                kept.append(row)
        return kept

    def _drop_duplicates(
        self, good: list[tuple[Any, ...]], line_errors: list[tuple[int, str]]
    ) -> list[tuple[Any, ...]]:
        """Lines the upsert skipped: their objectId was already written by this request."""
        integration_id, object_type = self.job.integration_id, self.object_type
        stored = self._lookup(
            "SELECT object_id, last_line FROM entities WHERE last_request = ?"
            f" AND integration_id = {int(integration_id)} AND object_type = '{object_type}'"
            " AND object_id IN ({marks})",
            [row[2] for row in good],
        )
        kept = []
        for row in good:
            first = stored.get(row[2])
            if first is not None and first != row[5]:
                line_errors.append((row[5], duplicate_problem(row[2], first)))
            else:
                kept.append(row)
        return kept

    def _add_errors(self, line_errors: list[tuple[int, str]]) -> None:
        self.error_count += len(line_errors)
        room = MAX_ERRORS - len(self.errors)
        if room > 0 and line_errors:
            line_errors.sort()
            self.errors.extend({"line": line, "description": text} for line, text in line_errors[:room])


def _numbered_lines(stream: Any, skip: int) -> Iterator[tuple[int, bytes]]:
    for line_no, raw in enumerate(stream, start=1):
        if line_no > skip:
            yield line_no, raw


def finish(db: sqlite3.Connection, job: RequestRow, status: str, **counts: Any) -> None:
    """Mark a request terminal and forget its scratch state."""
    errors = counts.get("errors")
    db.execute("BEGIN IMMEDIATE")
    try:
        if errors is not None:
            db.execute(
                "UPDATE requests SET errors = ?, total_error_count = ?, total_success_count = ?"
                " WHERE seq = ?",
                (
                    msgspec.json.encode(errors).decode(),
                    counts.get("total_error_count", 0),
                    counts.get("total_success_count", 0),
                    job.seq,
                ),
            )
        db.execute(
            "UPDATE requests SET status = ?, finished_at = ? WHERE seq = ?", (status, time.time(), job.seq)
        )
        db.execute("DELETE FROM bad_ids WHERE request_seq = ?", (job.seq,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def process_job(db: sqlite3.Connection, job: RequestRow, cancel: threading.Event) -> bool:
    """Run one request to its end; False when cancelled before the end."""
    db.execute("UPDATE requests SET status = 'IN_PROGRESS' WHERE seq = ?", (job.seq,))
    if job.kind == "DELETE_INTEGRATION":
        _delete_integration(db, job.integration_id)
        finish(db, job, "DONE")
        return True
    integration = db.execute(
        "SELECT 1 FROM integrations WHERE integration_id = ?", (job.integration_id,)
    ).fetchone()
    forced = job.forced_error
    refuse = (
        forced.removeprefix(REFUSE_EVERY_LINE) if forced and forced.startswith(REFUSE_EVERY_LINE) else None
    )
    if (forced is not None and refuse is None) or integration is None:
        description = forced or f"Integration {job.integration_id} no longer exists"
        finish(db, job, "FAILED", errors=[{"line": 0, "description": description}])
        return True
    processor = UploadProcessor(db, job, cancel, refuse)
    if not processor.run():
        return False
    # done_with_errors: DONE although lines were refused (Gong documents DONE as every object processed)
    finish(db, job, "FAILED" if processor.error_count and refuse is None else "DONE")
    return True


def _delete_integration(db: sqlite3.Connection, integration_id: int) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        for table in ("entities", "schemas", "integrations", "user_emails"):
            db.execute(f"DELETE FROM {table} WHERE integration_id = ?", (integration_id,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


class Processor:
    """Runs due requests in a worker thread; ``wake()`` after accepting one."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = asyncio.Lock()
        self.cancel = threading.Event()
        self._wake = asyncio.Event()
        self._stopping = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gong-emulator-processing")
        self._worker_db: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="gong-emulator-processor")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Stop after the current batch; an unfinished request resumes after a restart."""
        self._stopping = True
        self.cancel.set()
        self._wake.set()
        if self._task is not None:
            await self._task
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_worker_db)
        self._executor.shutdown(wait=True)

    async def exclusive(self, action: Callable[[], Any]) -> Any:
        """Run ``action`` with no request being processed (cancels the current one at its next batch)."""
        self.cancel.set()
        async with self.lock:
            try:
                return action()
            finally:
                self.cancel.clear()
                self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            self._wake.clear()
            wait: float | None = MAX_WAIT_SECONDS
            async with self.lock:
                job = self.store.next_job()
                if job is not None:
                    wait = job.ready_at - time.time()
                    if wait <= 0:
                        try:
                            await loop.run_in_executor(self._executor, self._process, job)
                        except Exception:
                            log.exception("Processing request %s failed", job.client_request_id)
                            await asyncio.sleep(0.5)
                        continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), timeout=min(wait or MAX_WAIT_SECONDS, MAX_WAIT_SECONDS)
                )

    def _process(self, job: RequestRow) -> None:
        if self._worker_db is None:
            self._worker_db = connect(self.store.path)
            # WAL already makes a crashed process safe; skipping fsync only risks an OS crash
            self._worker_db.execute("PRAGMA synchronous=OFF")
        db = self._worker_db
        try:
            finished = process_job(db, job, self.cancel)
        except Exception as error:
            log.exception("Request %s failed while processing", job.client_request_id)
            if db.in_transaction:
                db.execute("ROLLBACK")
            finish(
                db,
                job,
                "FAILED",
                errors=[{"line": 0, "description": f"Unexpected processing error: {error}"}],
            )
            finished = True
        if finished and job.file_path:
            with contextlib.suppress(OSError):
                Path(job.file_path).unlink()

    def _close_worker_db(self) -> None:
        if self._worker_db is not None:
            self._worker_db.close()
            self._worker_db = None
