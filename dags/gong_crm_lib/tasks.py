"""Bodies of gong_crm_sync's tasks, imported by the tasks at run time (never at parse time)."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from gong_crm_lib import settings
from gong_crm_lib.sources import resolve_source
from gong_provider.models import ObjectType

log = logging.getLogger(__name__)

_INTEGRATION_ID = re.compile(r"^[0-9]{1,19}$")
_UNSAFE_PATH = re.compile(r"[^A-Za-z0-9._-]+")


class SkipType(Exception):
    """Raised when a type is not selected or absent from the source (the DAG turns it into a skip)."""


def parse_integration_id(value: Any) -> int:
    """The integration id as an exact int: it is kept as a string in the Params so it never passes
    through a JavaScript number in the trigger form (2271307570613351879 would become ...936)."""
    text = str(value or "").strip()
    if not _INTEGRATION_ID.match(text) or int(text) >= 2**63:
        raise ValueError(
            f"integration_id {text!r} is not a Gong integration id (digits only, as gong_crm_setup prints it)"
        )
    return int(text)


def client_request_id(
    integration_id: int, object_type: str, content_sha256: str, resend_key: str = ""
) -> str:
    """Derived from the content alone (per integration and type), not from the run.

    The same staged content therefore always gets the same id: a retry, or a later run over the same
    data, is answered 409 by Gong and uploads nothing twice. ``resend_key`` (a Param) forces a fresh id
    when identical content must really be sent again.
    """
    digest = hashlib.sha256(
        f"{integration_id}:{object_type}:{content_sha256}:{resend_key}".encode()
    ).hexdigest()
    return f"{object_type.lower().replace('_', '-')}-{digest[:40]}"


def staging_dir(dag_id: str, run_id: str) -> str:
    """``<GONG_STAGING_BASE>/<dag_id>/<run_id>``: a retry of the run restages into its own folder."""
    base = settings.staging_base().rstrip("/")
    return f"{base}/{_UNSAFE_PATH.sub('_', dag_id)}/{_UNSAFE_PATH.sub('_', run_id)}"


def _out_dir(path: str) -> Any:
    if "://" in path:
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(path)
    return path


def stage_entity(
    object_type: str, params: Mapping[str, Any], *, dag_id: str, run_id: str, render: Any
) -> dict[str, Any]:
    """Stage one type; return the summary and the uploads (file + clientRequestId) of generation 0."""
    from gong_provider.staging import stage

    kind = ObjectType(object_type)
    if kind.value not in (params.get("entity_types") or [t.value for t in ObjectType]):
        raise SkipType(f"{kind.value} is not among the selected entity_types")
    dry_run = bool(params.get("dry_run"))
    integration_id = (
        None
        if dry_run and not params.get("integration_id")
        else parse_integration_id(params.get("integration_id"))
    )
    source = resolve_source(
        kind,
        source=str(params.get("source") or settings.default_source()),
        sql_conn_id=params.get("sql_conn_id") or None,
        sql_queries=params.get("sql_queries") or {},
        render=render,
    )
    if source is None:
        raise SkipType(f"the source has nothing for {kind.value}")
    out_dir = staging_dir(dag_id, run_id)
    log.info("Staging %s from %s into %s", kind.value, source, out_dir)
    manifest = stage(
        source,
        object_type=kind,
        out_dir=_out_dir(out_dir),
        max_reject_ratio=float(params.get("max_reject_ratio") or 0.0),
    )
    manifest_path = f"{out_dir}/{kind.value}/manifest.json"
    generations = manifest.generations
    resend_key = str(params.get("resend_key") or "")
    uploads: list[dict[str, Any]] = []
    later: list[dict[str, Any]] = []
    later_id = ""
    if not dry_run and generations and integration_id is not None:
        uploads = [
            {
                "file": staged.path,
                "client_request_id": client_request_id(integration_id, kind.value, staged.sha256, resend_key),
            }
            for staged in generations[0]
        ]
        later = [asdict(staged) for generation in generations[1:] for staged in generation]
        if later:
            # one content-derived base id for all later files; the operator numbers it per file
            content = hashlib.sha256("".join(f["sha256"] for f in later).encode()).hexdigest()
            later_id = client_request_id(integration_id, kind.value, content, resend_key)
    summary = {
        "object_type": kind.value,
        "source": str(source),
        "manifest": manifest_path,
        "records_read": manifest.records_read,
        "records_staged": manifest.records_staged,
        "records_rejected": manifest.records_rejected,
        "rejects": manifest.rejects_path,
        "files": len(manifest.files),
        "generations": len(generations),
        "dry_run": dry_run,
    }
    log.info(
        "%s: read %s, staged %s, rejected %s, %s file(s) in %s generation(s)%s",
        kind.value,
        manifest.records_read,
        manifest.records_staged,
        manifest.records_rejected,
        len(manifest.files),
        len(generations),
        " (dry run: nothing will be uploaded)" if dry_run else "",
    )
    return {"summary": summary, "uploads": uploads, "later_files": later, "later_client_request_id": later_id}


def summarize_entity(
    object_type: str,
    *,
    integration_id: Any,
    stage_summary: Mapping[str, Any],
    uploads: Iterable[Mapping[str, Any]],
    statuses: Iterable[Mapping[str, Any] | None],
    later_generations: Iterable[Mapping[str, Any]] | None,
    outlet_events: Any,
) -> dict[str, Any]:
    """Per-type outcome (counts from Gong's request-status) and the Asset event of the uploaded type."""
    from airflow.sdk import Asset, AssetAlias

    uploads = list(uploads)
    statuses = [s for s in statuses if s]
    later = list(later_generations or [])
    success = _total([*statuses, *later], "total_success_count")
    errors = _total([*statuses, *later], "total_error_count")
    uploaded_records = _total([*uploads, *later], "records")
    request_ids = [str(u.get("client_request_id")) for u in [*uploads, *later]]
    already = _total([*uploads, *later], "already_accepted")  # a flag per upload, a count per generation
    iid = parse_integration_id(integration_id)
    uri = settings.asset_uri(iid, object_type)
    outlet_events[AssetAlias(settings.asset_alias_name(object_type))].add(
        Asset(uri),
        extra={
            "integration_id": str(iid),
            "object_type": object_type,
            "records": uploaded_records,
            "client_request_ids": request_ids,
        },
    )
    return {
        **dict(stage_summary),
        "uploads": len(request_ids),
        "already_accepted": already,
        "records_uploaded": uploaded_records,
        "gong_success": success,
        "gong_errors": errors,
        "asset": uri,
    }


def _total(rows: Iterable[Mapping[str, Any]], key: str) -> int:
    """Sum of ``key`` over XCom rows (a missing or null value counts 0; True counts 1)."""
    return sum(int(row.get(key) or 0) for row in rows)
