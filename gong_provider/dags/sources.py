"""Where gong_crm_sync reads each entity type: export files named after the type, or SQL queries.

File naming: ``<name>[-anything].<ext>[.gz]`` where ``name`` is the type's plural or singular in
lower case (``accounts.csv``, ``contact.jsonl``, ``deals-2026-01.json.gz``) and ``ext`` one of
csv, jsonl, ndjson, ldjson, json. ``users`` is accepted for BUSINESS_USER and ``opportunities`` for
DEAL. Other files in the folder (``schema.json``, a README) are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gong_provider.dags import settings
from gong_provider.exceptions import GongSourceParamError as SourceError
from gong_provider.models import ObjectType
from gong_provider.staging.location import is_object_storage_path, resolve_location

FILE_NAMES: dict[ObjectType, tuple[str, ...]] = {
    ObjectType.BUSINESS_USER: ("business_users", "business_user", "business-users", "users"),
    ObjectType.STAGE: ("stages", "stage"),
    ObjectType.ACCOUNT: ("accounts", "account"),
    ObjectType.CONTACT: ("contacts", "contact"),
    ObjectType.DEAL: ("deals", "deal", "opportunities"),
    ObjectType.LEAD: ("leads", "lead"),
}
_FILE = re.compile(r"^(?P<name>[a-z_-]+?)(?:-[^.]*)?\.(?:csv|jsonl|ndjson|ldjson|json)(?:\.gz)?$")


def object_type_of(file_name: str) -> ObjectType | None:
    match = _FILE.match(file_name.lower())
    if not match:
        return None
    for object_type, names in FILE_NAMES.items():
        if match.group("name") in names:
            return object_type
    return None


def list_source_files(source: str, only: ObjectType | None = None) -> dict[ObjectType, str]:
    """The export file of each type found in the folder ``source`` (a path or an ObjectStoragePath URL).

    Two files of one type are an error; with ``only``, just for that type (each type's stage task
    reports its own files, so another type's duplicate never fails it).
    """
    folder: Any = resolve_location(source)
    if not is_object_storage_path(folder):
        folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"source {source!r} is not a folder")
    found: dict[ObjectType, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        object_type = object_type_of(entry.name)
        if object_type is None or (only is not None and object_type is not only) or not entry.is_file():
            continue
        if object_type in found:
            raise SourceError(
                f"two {object_type.value} files in {source}: {found[object_type]} and {entry}; "
                "merge them or move one away"
            )
        found[object_type] = str(entry)
    return found


def resolve_source(
    object_type: ObjectType,
    *,
    source: str | None,
    sql_conn_id: str | None,
    sql_queries: Mapping[str, str] | None,
    render: Any = None,
) -> Any | None:
    """The staging source of one type, or None when the source has nothing for it.

    With ``sql_conn_id``, ``sql_queries[TYPE]`` is the query (Jinja-rendered with the task context by
    ``render``, so it can use ``{{ data_interval_start }}``); otherwise the folder's file of that type.
    There is no built-in folder: sending a sample export to a real Gong by default would be worse than
    this error.
    """
    if sql_conn_id:
        query = (sql_queries or {}).get(object_type.value)
        if not query:
            return None
        from gong_provider.staging import SqlSource

        sql = render(query) if render else query
        return SqlSource(conn_id=sql_conn_id, sql=sql)
    if not source:
        raise SourceError(
            "no source to read: set the source Param (trigger form or conf), the "
            f"{settings.ENV_SOURCE} environment variable or gong_crm_sync_dag(source=...), "
            "or give sql_conn_id and sql_queries"
        )
    path = list_source_files(source, only=object_type).get(object_type)
    if path is None:
        return None
    return resolve_location(path)
