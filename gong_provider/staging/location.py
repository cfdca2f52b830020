"""The one rule of "is this a local path, or object storage?", for staging, the hook, the operator
and the DAGs.

A location is a local path (``str`` or ``os.PathLike``), a URL string, or an ObjectStoragePath.
``file://`` URLs are local paths; any other ``<scheme>://`` URL (``s3://``, ``gs://``, ``memory://``)
is object storage, opened through Airflow's ObjectStoragePath, which is imported only then: this
module, like the rest of staging, loads nothing of Airflow.
"""

from __future__ import annotations

import os
import re
from typing import IO, Any

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_FILE_URL = "file://"


def is_object_storage_path(value: object) -> bool:
    """Whether ``value`` is an ObjectStoragePath (or a path object of the same kind, duck-typed: no
    import of Airflow needed to tell)."""
    return hasattr(value, "fs") and hasattr(value, "protocol") and hasattr(value, "open")


def is_url(location: object) -> bool:
    """Whether ``location`` is a string with a URL scheme (``file://`` included)."""
    return isinstance(location, str) and _URL.match(location) is not None


def local_path(location: str) -> str | None:
    """The local path a location string names (itself, or a ``file://`` URL's path), or None when
    it names object storage."""
    if not is_url(location):
        return location
    if location.startswith(_FILE_URL):
        return location.removeprefix(_FILE_URL)
    return None


def resolve_location(location: Any) -> Any:
    """Where ``location`` points, in the form that opens it.

    A ``file://`` URL becomes its local path; another URL an ObjectStoragePath; anything else (a
    local path, a path object, an ObjectStoragePath, a file object) is returned unchanged.
    """
    if not isinstance(location, str):
        return location
    local = local_path(location)
    if local is not None:
        return local
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(location)


def open_location(location: Any) -> IO[bytes]:
    """Open a location for reading its bytes as stored (no decompression)."""
    target = resolve_location(location)
    if is_object_storage_path(target):
        handle: IO[bytes] = target.open("rb")
        return handle
    return open(os.fspath(target), "rb")


def location_exists(location: Any) -> bool:
    """Whether a file (or folder) is at ``location``."""
    target = resolve_location(location)
    if is_object_storage_path(target):
        return bool(target.exists())
    return os.path.exists(os.fspath(target))


def location_text(location: Any) -> str:
    """A location as text, as manifests and XComs record it: an ObjectStoragePath as its URL, a path
    object as its path."""
    if isinstance(location, str) or is_object_storage_path(location):
        return str(location)
    return os.fsdecode(location)
