"""The stage task of gong_crm_sync: one type's source into Gong-ready files, and what to upload."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, cast

from gong_provider.changes.modes import DEFAULT_MAX_DELETE_RATIO, SyncMode, parse_sync_mode
from gong_provider.dags import settings
from gong_provider.dags.params import integration_id_from
from gong_provider.dags.sources import resolve_source
from gong_provider.exceptions import GongApiError, GongError, is_transient
from gong_provider.models import ObjectType
from gong_provider.rows import ChangeCountFields, StageResult, StageSummary
from gong_provider.staging.manifest import manifest_path

log = logging.getLogger(__name__)

_UNSAFE_PATH = re.compile(r"[^A-Za-z0-9._-]+")
CHANGE_COUNTS: tuple[str, ...] = tuple(ChangeCountFields.__annotations__)
"""The change-capture counts the report shows, in its column order."""
LOCAL_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})
"""Executors whose tasks all run on the scheduler's machine: a local staging path is shared by them."""
ACCEPT_EVERY_REJECT = 1.0
"""What the stage task passes to staging: bad rows never stop the valid ones (the report judges the
ratio at the end of the run, see :func:`reject_verdict`)."""


class SkipType(Exception):
    """Raised when a type is not selected or absent from the source (the DAG turns it into a skip)."""


def retry_cannot_help(error: BaseException) -> bool:
    """Whether ``error`` is a configuration or data error, which fails the same way on every try.

    No source, two files for one type, no integration id, a bad Param, unreadable or invalid input,
    a corrupt state or a delete guard fail at once; a transient Gong answer (429, 5xx, no answer) and
    any other error (a storage or network hiccup) keep the task's retries.
    """
    if isinstance(error, GongApiError):
        return not is_transient(error)
    return isinstance(error, (GongError, ValueError))


def staging_dir(dag_id: str, run_id: str, base: str | None = None) -> str:
    """``<staging base>/runs/<dag_id>/<run_id>``: a retry of the run restages into its own folder.

    ``base`` is the factory's ``staging_base``; without it, GONG_STAGING_BASE of the worker. Staged
    runs live under ``runs/`` so that their cleanup (and a bucket lifecycle rule) never reaches the
    change-capture state beside it (``<staging base>/state`` by default).
    """
    return f"{runs_root(dag_id, base)}/{_UNSAFE_PATH.sub('_', run_id)}"


def runs_root(dag_id: str, base: str | None = None) -> str:
    """``<staging base>/runs/<dag_id>``: the folder of every staged run of one DAG."""
    base = (base or settings.staging_base()).rstrip("/")
    return f"{base}/{settings.RUNS_FOLDER}/{_UNSAFE_PATH.sub('_', dag_id)}"


def state_base_of(state_base: str | None, staging_base: str | None) -> str:
    """The run's state base: the factory's ``state_base``, else GONG_STATE_BASE, else
    ``<staging base>/state`` (the library's default, applied to the factory's or the worker's base)."""
    from gong_provider.changes import default_state_base

    return state_base or default_state_base(staging_base or settings.staging_base())


def warn_if_not_shared(staging: str, state: str | None, executor: str | None = None) -> list[str]:
    """Warn (and return the settings' names) when tasks may run on several machines and the staging
    or state base is a local path: each worker would see its own files and state."""
    from gong_provider.changes.capture import ENV_STATE_BASE
    from gong_provider.staging.location import local_path

    if executor is None:
        from airflow.sdk.configuration import conf

        executor = conf.get("core", "executor", fallback="LocalExecutor") or "LocalExecutor"
    executors = {
        name.strip().rsplit(".", 1)[-1].split(":")[-1] for name in executor.split(",") if name.strip()
    }
    if executors <= LOCAL_EXECUTORS:
        return []
    local = {
        name: value
        for name, value in ((settings.ENV_STAGING_BASE, staging), (ENV_STATE_BASE, state))
        if value is not None and local_path(value) is not None
    }
    if local:
        log.warning(
            "The executor is %s but %s: a local path, which tasks of one run on other machines do not "
            "see (staged files missing, or each worker keeping its own change-capture state). Use an "
            "object store (s3://, gs://...) or a volume every worker mounts at the same path",
            executor,
            " and ".join(f"{name}={value}" for name, value in local.items()),
        )
    return list(local)


@dataclass(frozen=True)
class _TypeRun:
    """One type's stage, once its Params are read: what to stage, where, and against which state."""

    kind: ObjectType
    params: Mapping[str, Any]
    source: Any
    out_dir: str
    state: str
    integration_id: Any
    """None in a dry run without an integration id (no state is read)."""
    dry_run: bool
    max_reject_ratio: float
    checks: dict[str, Any]
    """Staging's checks: custom fields against what is registered, unknown fields."""
    references: Any
    """The run's :class:`~gong_provider.dags.references.ReferenceRun`."""


def stage_entity(
    object_type: str,
    params: Mapping[str, Any],
    *,
    dag_id: str,
    run_id: str,
    render: Any,
    staging_base: str | None = None,
    state_base: str | None = None,
    gong_conn_id: str | None = None,
) -> StageResult:
    """Stage one type and diff it against the change-capture state (see :mod:`gong_provider.changes`).

    Returns the summary, the uploads of generation 0 (``{"file"}`` each), the later generations'
    files, the plan (``ChangePlan.to_dict()``, None in a dry run: nothing is planned or sent) and the
    withheld deletes to approve (``withheld_request``; None when none were withheld) and, for
    BUSINESS_USER, the deletes of changed users to send before the uploads (``reassociate_files``).
    Every delete is dated by change capture when planned (docs/state.md), never by the run's
    interval (an old interval's end would back-date deletes).
    """
    run = _read_type_run(
        ObjectType(object_type),
        params,
        dag_id=dag_id,
        run_id=run_id,
        render=render,
        staging_base=staging_base,
        state_base=state_base,
        gong_conn_id=gong_conn_id,
    )
    if run.integration_id is None:
        return _stage_without_state(run)
    return _stage_with_changes(run, run_id)


def _read_type_run(
    kind: ObjectType,
    params: Mapping[str, Any],
    *,
    dag_id: str,
    run_id: str,
    render: Any,
    staging_base: str | None,
    state_base: str | None,
    gong_conn_id: str | None,
) -> _TypeRun:
    """The type's Params read once; :class:`SkipType` when the type is not selected or not in the source."""
    from gong_provider.dags.references import ReferenceRun
    from gong_provider.dags.schema import registered_custom_fields

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
    max_reject_ratio = reject_ratio_of(params)
    checks: dict[str, Any] = {  # custom fields checked against what is registered for them
        "custom_fields": registered_custom_fields(
            kind, integration_id=integration_id, gong_conn_id=gong_conn_id
        ),
        "unknown_fields": params.get("unknown_fields") or "reject",
    }
    state = state_base_of(state_base, staging_base)
    references = ReferenceRun.start(
        kind, params, run_dir=out_dir, state_base=state, integration_id=integration_id
    )
    return _TypeRun(
        kind,
        params,
        source,
        out_dir,
        state,
        integration_id,
        dry_run,
        max_reject_ratio,
        checks,
        references,
    )


def _nothing_to_send(summary: StageSummary) -> StageResult:
    """A dry run's result: the counts in the report; nothing to upload, approve or commit."""
    return {"summary": summary, "uploads": [], "later_files": [], "plan": None, "withheld": None}


def _stage_without_state(run: _TypeRun) -> StageResult:
    """A dry run without an integration id: staged and checked, no state read."""
    from gong_provider.staging import stage

    kind = run.kind
    log.info(
        "Staging %s from %s into %s (dry run without integration id: no state read)",
        kind.value,
        run.source,
        run.out_dir,
    )
    warn_if_not_shared(run.out_dir, None)
    manifest = stage(
        run.source,
        object_type=kind,
        out_dir=run.out_dir,
        max_reject_ratio=ACCEPT_EVERY_REJECT,
        tap=run.references.tap,
        **run.checks,
    )
    summary = stage_summary(kind, run.source, run.out_dir, manifest, run.max_reject_ratio, dry_run=True)
    summary["records_to_upload"] = 0
    run.references.finish(manifest, summary)
    return _nothing_to_send(summary)


def _stage_with_changes(run: _TypeRun, run_id: str) -> StageResult:
    """Stage and plan against the state (a preview in a dry run), check references, and return what
    to upload, approve and commit."""
    from gong_provider.changes import StateStore, preview_changes, stage_changes
    from gong_provider.changes.approval import withheld_request
    from gong_provider.staging import load_manifest
    from gong_provider.staging.references import GongReferenceError

    kind, dry_run = run.kind, run.dry_run
    mode = _sync_mode(run.params)
    warn_if_not_shared(run.out_dir, run.state)
    log.info(
        "Staging %s from %s into %s (%s mode, state in %s)%s",
        kind.value,
        run.source,
        run.out_dir,
        mode,
        run.state,
        " (dry run: the plan is computed and reported, nothing sent, the state left as it is)"
        if dry_run
        else "",
    )
    options = _plan_options(run, mode)
    if dry_run:  # the plan against the committed state, nothing written under it (no lease, no marker)
        plan = preview_changes(run.source, **options)
    else:
        plan = stage_changes(
            run.source, run_key=run_id, lease_seconds=lease_seconds(mode, run.params), **options
        )
    summary = _plan_summary(run, plan, mode)
    try:
        run.references.finish(load_manifest(f"{run.out_dir}/{kind.value}"), summary)
    except GongReferenceError:
        if not dry_run:  # nothing sent: the next run may take the state (it resends this plan's keys)
            StateStore(run.state, run.integration_id, kind).release_lease(plan.run_token)
        raise
    if dry_run:
        summary["records_to_upload"] = 0
        summary["records_planned"] = plan.counts.records_uploaded
        return _nothing_to_send(summary)
    generations = plan.manifest.generations
    plan_dict = plan.to_dict()
    # changed business users: deleted first, in a request of their own (changes/user_updates.py)
    summary["users_reassociated"] = plan.counts.reassociated
    summary["users_superseded"] = plan.counts.superseded  # listed twice: only the last version goes
    return {
        "summary": summary,
        # no clientRequestId here: the upload operator derives a run-scoped one (see docs/changes.md)
        "uploads": [{"file": staged.path} for staged in generations[0]] if generations else [],
        "later_files": [asdict(staged) for generation in generations[1:] for staged in generation],
        "plan": plan_dict,
        "withheld": withheld_request(plan_dict),  # deletes the guard withheld: to approve (dags/approval.py)
        "reassociate_files": plan.reassociate_files,
    }


def _sync_mode(params: Mapping[str, Any]) -> SyncMode:
    """The ``sync_mode`` Param (or ``conf``), parsed once: the door of the DAG's sync mode."""
    if params.get("resend_key"):  # the Param of earlier releases: "send identical data again"
        log.warning("resend_key is deprecated and taken as sync_mode=full (send every record)")
        return "full"
    return parse_sync_mode(params.get("sync_mode") or "upsert")


def _plan_options(run: _TypeRun, mode: SyncMode) -> dict[str, Any]:
    """The arguments of ``stage_changes`` / ``preview_changes`` from the Params."""
    params = run.params
    confirm = params.get("confirm_deletes")
    return {
        "object_type": run.kind,
        "out_dir": run.out_dir,
        "state_base": run.state,
        "integration_id": run.integration_id,
        "mode": mode,
        "reset_state": bool(params.get("reset_state")),
        "max_delete_ratio": _ratio(params.get("max_delete_ratio")),
        "confirm_deletes": None if confirm in (None, "") else int(confirm),
        "max_reject_ratio": ACCEPT_EVERY_REJECT,
        "extra_tap": run.references.tap,
        **run.checks,
    }


def _plan_summary(run: _TypeRun, plan: Any, mode: SyncMode) -> StageSummary:
    """The report's counts of a plan: staging's, then change capture's."""
    from gong_provider.changes.capture import UPLOAD_FOLDER

    kind, manifest = run.kind, plan.manifest
    staged = stage_summary(kind, run.source, run.out_dir, manifest, run.max_reject_ratio, dry_run=run.dry_run)
    return {
        **staged,
        "manifest": manifest_path(f"{run.out_dir}/{kind.value}/{UPLOAD_FOLDER}"),
        "records_staged": manifest.records_read - manifest.records_rejected,
        "records_to_upload": plan.counts.records_uploaded,
        **change_counts(asdict(plan.counts)),
        "sync_mode": mode,
        "state_rebuilt": plan.rebuild_reason,
    }


def lease_seconds(mode: SyncMode | str, params: Mapping[str, Any]) -> float:
    """How long the run holds the state: an upload's worth, plus, in mirror mode (where deletes may
    be withheld), the approval's wait (``delete_approval_hours``), so the lease outlives the wait."""
    from gong_provider.changes.state import DEFAULT_LEASE_SECONDS
    from gong_provider.dags.approval_settings import approval_hours

    extra = max(approval_hours(params), 0.0) * 3600 if mode == "mirror" else 0.0
    return DEFAULT_LEASE_SECONDS + extra


def _ratio(value: Any) -> float:
    return DEFAULT_MAX_DELETE_RATIO if value is None or value == "" else float(value)


def change_counts(counts: Mapping[str, Any]) -> ChangeCountFields:
    """The change-capture counts the report shows (from a plan's or a commit report's ``counts``)."""
    return cast(ChangeCountFields, {name: int(counts.get(name) or 0) for name in CHANGE_COUNTS})


def reject_ratio_of(params: Mapping[str, Any]) -> float:
    value = params.get("max_reject_ratio")
    return settings.DEFAULT_MAX_REJECT_RATIO if value is None or value == "" else float(value)


def reject_verdict(
    object_type: str, records_read: int, records_rejected: int, max_reject_ratio: float
) -> str | None:
    """Why the run must fail for this type's rejects (more than ``max_reject_ratio`` of the records
    read), or None. The valid records went anyway; the rejects stay pending until they are fixed."""
    from gong_provider.staging.errors import rejects_exceed, rejects_line

    if not rejects_exceed(records_rejected, records_read, max_reject_ratio):
        return None
    return rejects_line(object_type, records_rejected, records_read, max_reject_ratio)


def summary_after_failure(
    object_type: str, dag_id: str, run_id: str, staging_base: str | None
) -> StageSummary | None:
    """The counts of a stage that failed after staging wrote its manifest (a delete guard, say), so
    the report shows what was read, staged and rejected, and where the rejects are; None otherwise."""
    from gong_provider.staging import load_manifest

    kind = ObjectType(object_type)
    out_dir = staging_dir(dag_id, run_id, staging_base)
    try:
        manifest = load_manifest(manifest_path(f"{out_dir}/{kind.value}"))
    except Exception:  # no manifest (the failure came first) or an unreadable one: nothing to show
        return None
    return stage_summary(kind, "", out_dir, manifest, None, dry_run=False)


def stage_summary(
    kind: ObjectType,
    source: Any,
    out_dir: str,
    manifest: Any,
    max_reject_ratio: float | None,
    *,
    dry_run: bool,
) -> StageSummary:
    """The stage's counts for the report; ``rejects_over_limit`` says why the run must fail for them."""
    summary = _summary(kind, source, manifest_path(f"{out_dir}/{kind.value}"), manifest, dry_run=dry_run)
    if max_reject_ratio is not None:
        summary["max_reject_ratio"] = max_reject_ratio
        verdict = reject_verdict(
            kind.value, manifest.records_read, manifest.records_rejected, max_reject_ratio
        )
        summary["rejects_over_limit"] = verdict
        if verdict:
            log.warning(
                "%s; the valid records go on, the run fails at its end: %s", verdict, manifest.rejects_path
            )
    return summary


def _summary(
    kind: ObjectType, source: Any, manifest_path: str, manifest: Any, *, dry_run: bool
) -> StageSummary:
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
