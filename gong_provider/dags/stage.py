"""The stage task of gong_crm_sync: one type's source into Gong-ready files, and what to upload."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from gong_provider.changes.modes import DEFAULT_MAX_DELETE_RATIO
from gong_provider.dags import settings
from gong_provider.dags.params import integration_id_from
from gong_provider.dags.sources import resolve_source
from gong_provider.models import ObjectType

log = logging.getLogger(__name__)

_UNSAFE_PATH = re.compile(r"[^A-Za-z0-9._-]+")
CHANGE_COUNTS = ("new", "changed", "unchanged", "pending_retried", "deleted", "deletes_withheld")


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
    state_base: str | None = None,
    run_time: Any = None,
) -> dict[str, Any]:
    """Stage one type and diff it against the change-capture state (see :mod:`gong_provider.changes`).

    Returns the summary, the uploads of generation 0 (``{"file"}`` each), the later generations'
    files, the plan (``ChangePlan.to_dict()``, None in a dry run: nothing is planned or sent) and the
    withheld deletes to approve (``withheld_request``; None when none were withheld) and, for
    BUSINESS_USER, the deletes of changed users to send before the uploads (``reassociate_files``).
    ``run_time`` (the run's data interval end; default now) is the ``modifiedDate`` of mirror
    deletes: a retry of the run must pass the same, to write the same bytes.
    """
    from gong_provider.dags.references import ReferenceRun
    from gong_provider.staging import load_manifest, stage

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
    max_reject_ratio = float(params.get("max_reject_ratio") or 0.0)
    state = state_base or default_state_base(staging_base)
    references = ReferenceRun.start(
        kind, params, run_dir=out_dir, state_base=state, integration_id=integration_id
    )
    if integration_id is None:
        log.info(
            "Staging %s from %s into %s (dry run without integration id: no state read)",
            kind.value,
            source,
            out_dir,
        )
        manifest = stage(
            source, object_type=kind, out_dir=out_dir, max_reject_ratio=max_reject_ratio, tap=references.tap
        )
        summary = _summary(kind, source, f"{out_dir}/{kind.value}/manifest.json", manifest, dry_run=True)
        summary["records_to_upload"] = 0
        references.finish(manifest, summary)
        return {"summary": summary, "uploads": [], "later_files": [], "plan": None, "withheld": None}
    from gong_provider.changes import stage_changes
    from gong_provider.changes.approval import withheld_request
    from gong_provider.changes.user_updates import changed_users, write_user_deletes

    mode = str(params.get("sync_mode") or "upsert")
    if params.get("resend_key"):  # the Param of earlier releases: "send identical data again"
        log.warning("resend_key is deprecated and taken as sync_mode=full (send every record)")
        mode = "full"
    log.info(
        "Staging %s from %s into %s (%s mode, state in %s)%s",
        kind.value,
        source,
        out_dir,
        mode,
        state,
        " (dry run: the plan is computed and reported, nothing sent, the state left as it is)"
        if dry_run
        else "",
    )
    confirm = params.get("confirm_deletes")
    plan = stage_changes(
        source,
        object_type=kind,
        out_dir=out_dir,
        state_base=state,
        integration_id=integration_id,
        run_key=run_id,
        run_time=run_time or datetime.now(timezone.utc),
        mode=mode,
        reset_state=bool(params.get("reset_state")),
        max_delete_ratio=_ratio(params.get("max_delete_ratio")),
        confirm_deletes=None if confirm in (None, "") else int(confirm),
        max_reject_ratio=max_reject_ratio,
        extra_tap=references.tap,
        preview=dry_run,
    )
    manifest = plan.manifest
    generations = manifest.generations
    # no clientRequestId here: the upload operator derives a run-scoped one (see docs/changes.md)
    uploads = [{"file": staged.path} for staged in generations[0]] if generations else []
    later = [asdict(staged) for generation in generations[1:] for staged in generation]
    summary = _summary(
        kind, source, f"{out_dir}/{kind.value}/upload/manifest.json", manifest, dry_run=dry_run
    )
    summary["records_staged"] = manifest.records_read - manifest.records_rejected
    summary["records_to_upload"] = plan.counts.records_uploaded
    summary.update(change_counts(asdict(plan.counts)))
    summary["sync_mode"] = mode
    summary["state_rebuilt"] = plan.rebuild_reason
    references.finish(load_manifest(f"{out_dir}/{kind.value}"), summary)
    if dry_run:  # the preview: counts in the report; nothing to upload, approve or commit
        summary["records_to_upload"] = 0
        summary["records_planned"] = plan.counts.records_uploaded
        return {"summary": summary, "uploads": [], "later_files": [], "plan": None, "withheld": None}
    plan_dict = plan.to_dict()
    withheld = withheld_request(plan_dict)  # deletes the guard withheld: to approve (dags/approval.py)
    # changed business users: deleted first, in a request of their own (changes/user_updates.py)
    changed = changed_users(plan)
    reassociate = write_user_deletes(plan, out_dir, run_time or datetime.now(timezone.utc), changed)
    summary["users_reassociated"] = len(changed)
    return {
        "summary": summary,
        "uploads": uploads,
        "later_files": later,
        "plan": plan_dict,
        "withheld": withheld,
        "reassociate_files": reassociate,
    }


def _ratio(value: Any) -> float:
    return DEFAULT_MAX_DELETE_RATIO if value is None or value == "" else float(value)


def change_counts(counts: Mapping[str, Any]) -> dict[str, int]:
    """The change-capture counts the report shows (from a plan's or a commit report's ``counts``)."""
    return {name: int(counts.get(name) or 0) for name in CHANGE_COUNTS}


def default_state_base(staging_base: str | None = None) -> str:
    """GONG_STATE_BASE, else ``<staging base>/state`` (the factory's ``staging_base`` or the worker's)."""
    from gong_provider.changes import default_state_base as library_default

    return library_default(staging_base or settings.staging_base())


def _summary(
    kind: ObjectType, source: Any, manifest_path: str, manifest: Any, *, dry_run: bool
) -> dict[str, Any]:
    generations = manifest.generations
    log.info(
        "%s: read %s, rejected %s, %s file(s) to upload in %s generation(s)%s",
        kind.value,
        manifest.records_read,
        manifest.records_rejected,
        len(manifest.files),
        len(generations),
        " (dry run: nothing will be uploaded)" if dry_run else "",
    )
    return {
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
