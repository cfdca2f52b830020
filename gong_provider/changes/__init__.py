"""Change capture: send Gong only what changed since what it confirmed, mirror deletions, retry what
it refused, never lose a change. Airflow-free, like staging (see docs/changes.md).

Wiring, per object type (the DAG's tasks, or a user's own)::

    from gong_provider.changes import commit_changes, stage_changes

    plan = stage_changes(                                   # stage + diff, one pass over the source
        source, object_type="CONTACT", out_dir=staging_dir, state_base=state_base,
        integration_id=integration_id, run_key=run_id,
        mode="mirror",                                      # or "upsert" (default) / "full"
    )
    # the run now holds the state's lease until its commit (another run of it fails meanwhile)
    # upload plan.files (plan.manifest.generations: one generation after another), each under a
    # run-scoped clientRequestId, and wait for each to be DONE or FAILED
    report = commit_changes(plan, {path: final_request_status, ...})
    report.raise_for_guard()                                # deletes withheld: fail the type

``ChangePlan`` and ``CommitReport`` have ``to_dict()``/``from_dict()`` for XCom. An unchanged rerun
gives a plan without files: nothing to upload, and the commit only moves the state's generation.

Public API: :func:`stage_changes`, :func:`commit_changes`, :func:`state_fingerprint`,
:func:`statuses_by_file`, :func:`default_state_base`, :func:`preview_changes` (a dry run: the plan
without writing anything under the state), :class:`ChangePlan`, :class:`ChangeCounts`,
:class:`CommitReport`, :class:`StateStore`, and the errors :class:`GongStateCorruptError`,
:class:`GongStateConflictError`, :class:`GongDeleteGuardError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gong_provider.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from gong_provider.changes.capture import (
        DEFAULT_MAX_DELETE_RATIO,
        SYNC_MODES,
        SyncMode,
        default_state_base,
        preview_changes,
        stage_changes,
    )
    from gong_provider.changes.commit import CommitReport, commit_changes, statuses_by_file
    from gong_provider.changes.errors import (
        GongChangeCaptureError,
        GongDeleteGuardError,
        GongStateConflictError,
        GongStateCorruptError,
    )
    from gong_provider.changes.plan import ChangeCounts, ChangePlan
    from gong_provider.changes.state import StateStore, state_fingerprint

_HOMES = {
    "DEFAULT_MAX_DELETE_RATIO": "capture",
    "SYNC_MODES": "capture",
    "ChangeCounts": "plan",
    "ChangePlan": "plan",
    "SyncMode": "capture",
    "default_state_base": "capture",
    "preview_changes": "capture",
    "stage_changes": "capture",
    "CommitReport": "commit",
    "commit_changes": "commit",
    "statuses_by_file": "commit",
    "GongChangeCaptureError": "errors",
    "GongDeleteGuardError": "errors",
    "GongStateConflictError": "errors",
    "GongStateCorruptError": "errors",
    "StateStore": "state",
    "state_fingerprint": "state",
}


__getattr__ = lazy_exports(__name__, _HOMES)


__all__ = [
    "DEFAULT_MAX_DELETE_RATIO",
    "SYNC_MODES",
    "ChangeCounts",
    "ChangePlan",
    "CommitReport",
    "GongChangeCaptureError",
    "GongDeleteGuardError",
    "GongStateConflictError",
    "GongStateCorruptError",
    "StateStore",
    "SyncMode",
    "commit_changes",
    "default_state_base",
    "preview_changes",
    "stage_changes",
    "state_fingerprint",
    "statuses_by_file",
]
