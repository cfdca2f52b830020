"""The stage task of gong_crm_sync: one type's source into Gong-ready files, and what to upload."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from gong_provider.dags import settings
from gong_provider.dags.params import integration_id_from
from gong_provider.dags.sources import resolve_source
from gong_provider.dags.upload_ids import client_request_id
from gong_provider.models import ObjectType

log = logging.getLogger(__name__)

_UNSAFE_PATH = re.compile(r"[^A-Za-z0-9._-]+")


class SkipType(Exception):
    """Raised when a type is not selected or absent from the source (the DAG turns it into a skip)."""


def staging_dir(dag_id: str, run_id: str, base: str | None = None) -> str:
    """``<staging base>/<dag_id>/<run_id>``: a retry of the run restages into its own folder.

    ``base`` is the factory's ``staging_base``; without it, GONG_STAGING_BASE of the worker.
    """
    base = (base or settings.staging_base()).rstrip("/")
    return f"{base}/{_UNSAFE_PATH.sub('_', dag_id)}/{_UNSAFE_PATH.sub('_', run_id)}"


def stage_entity(
    object_type: str,
    params: Mapping[str, Any],
    *,
    dag_id: str,
    run_id: str,
    render: Any,
    staging_base: str | None = None,
) -> dict[str, Any]:
    """Stage one type; return the summary and the uploads (file + clientRequestId) of generation 0."""
    from gong_provider.staging import stage

    kind = ObjectType(object_type)
    if kind.value not in (params.get("entity_types") or [t.value for t in ObjectType]):
        raise SkipType(f"{kind.value} is not among the selected entity_types")
    dry_run = bool(params.get("dry_run"))
    integration_id = (
        None if dry_run and params.get("integration_id") in (None, "") else integration_id_from(params)
    )
    source = resolve_source(
        kind,
        source=params.get("source"),
        sql_conn_id=params.get("sql_conn_id") or None,
        sql_queries=params.get("sql_queries") or {},
        render=render,
    )
    if source is None:
        raise SkipType(f"the source has nothing for {kind.value}")
    out_dir = staging_dir(dag_id, run_id, staging_base)
    log.info("Staging %s from %s into %s", kind.value, source, out_dir)
    manifest = stage(
        source,
        object_type=kind,
        out_dir=out_dir,  # a path or URL: staging resolves it
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
