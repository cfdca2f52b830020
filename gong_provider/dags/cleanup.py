"""The cleanup task of gong_crm_sync: staged run folders older than the retention go, the state never.

Layout (see docs/dags.md, "Where files live"): ``<staging base>/runs/<dag_id>/<run_id>/`` holds one
run's staged files, ``<staging base>/state/`` (or ``GONG_STATE_BASE``) what Gong confirmed. Only the
first is cleaned. A run folder's age is the newest modification time of the files under it, read
from one flat listing of the store (no folder needs to exist: object stores have none).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from gong_provider.dags import settings
from gong_provider.dags.stage import runs_root, staging_dir

log = logging.getLogger(__name__)


def clean_staged_runs(
    dag_id: str,
    *,
    keep_run_id: str,
    retention_days: float | None,
    staging_base: str | None,
    state_base: str,
    now: datetime | None = None,
) -> list[str]:
    """Remove ``dag_id``'s staged run folders whose newest file is older than ``retention_days`` (at
    least one day: :func:`~gong_provider.dags.settings.staging_retention_days`); returns their
    locations. Never this run's folder, never one that holds or lies inside ``state_base``; a listing
    or removal error is logged, not raised (the next run tries again): a cleanup never fails a sync."""
    days = settings.staging_retention_days(retention_days)
    root = runs_root(dag_id, staging_base)
    keep = staging_dir(dag_id, keep_run_id, staging_base).rpartition("/")[2]
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    try:
        fs, root_path = _filesystem(root)
        listing: Mapping[str, Any] = fs.find(root_path, detail=True)
    except FileNotFoundError:
        return []
    except Exception as error:  # a store that cannot be listed now: nothing removed, next run retries
        log.warning("Cannot list staged runs in %s (%s): nothing cleaned", root, error)
        return []
    newest: dict[str, datetime] = {}
    for path, info in listing.items():
        run = path[len(root_path) :].lstrip("/").partition("/")[0]
        if not run or run == keep:
            continue
        modified = modified_time(info) or datetime.now(timezone.utc)  # undated: never old enough
        newest[run] = max(newest.get(run, modified), modified)
    removed: list[str] = []
    for run, modified in sorted(newest.items()):
        location = f"{root}/{run}"
        if modified >= cutoff:
            continue
        if _overlaps(location, state_base):
            log.warning("Not cleaning %s: the change-capture state %s is inside it", location, state_base)
            continue
        try:
            fs.rm(f"{root_path}/{run}", recursive=True)
        except Exception as error:
            log.warning("Cannot remove the staged run %s (%s): the next run tries again", location, error)
            continue
        log.info("Removed the staged run %s (last written %s, retention %s day(s))", location, modified, days)
        removed.append(location)
    return removed


def modified_time(info: Mapping[str, Any]) -> datetime | None:
    """A listed file's modification time, whatever the store calls it (local ``mtime``, S3
    ``LastModified``, GCS ``updated``, Azure ``last_modified``), or None when it gives none."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "timeCreated"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(float(value), tz=timezone.utc)
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return None


def _filesystem(location: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``location`` and its path there (local paths through fsspec too)."""
    from gong_provider.staging.location import local_path

    local = local_path(location)
    if local is not None:
        from fsspec.implementations.local import LocalFileSystem

        fs = LocalFileSystem()
        return fs, str(fs._strip_protocol(local)).rstrip("/")
    from airflow.sdk import ObjectStoragePath

    path = ObjectStoragePath(location)
    return path.fs, str(path.path).rstrip("/")


def _overlaps(location: str, state_base: str) -> bool:
    """Whether one of the two locations lies inside the other (or they are the same)."""
    a, b = location.rstrip("/") + "/", str(state_base).rstrip("/") + "/"
    return a.startswith(b) or b.startswith(a)
