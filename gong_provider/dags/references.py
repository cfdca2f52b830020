"""The reference check of gong_crm_sync's stage task (Param ``reference_check``: warn, fail, off).

Each referenced type's stage task publishes, under ``<run staging folder>/references/<TYPE>.ids``,
the ids Gong holds or is being sent: this run's export and the keys its change-capture state
confirmed. A referencing type staged later checks its references against those sets; a referenced
type this run does not stage (not selected, or absent from the source) is checked against its
confirmed state alone. LEAD stages in the same wave as CONTACT and DEAL, after their stage tasks (the
DAG orders them): its ``convertedTo*`` fields are checked against those types' sets when they were
published, else listed as not checked.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Iterable, Mapping
from typing import Any

from gong_provider.ids import IntegrationId
from gong_provider.models import UPLOAD_WAVES, ObjectType
from gong_provider.rows import StageSummary
from gong_provider.staging.idset import IdSet
from gong_provider.staging.references import (
    REFERENCED_TYPES,
    GongReferenceError,
    ReferenceCheck,
    ReferenceCollector,
    ReferenceReport,
    load_ids,
    parse_reference_check,
    save_ids,
    targets_of,
)

log = logging.getLogger(__name__)

REFERENCE_COLUMNS = ("references_dangling", "references_missing")


def _wave(kind: ObjectType) -> int:
    return next(index for index, wave in enumerate(UPLOAD_WAVES) if kind in wave)


class ReferenceRun:
    """One type's reference check in one stage task: the tap to stage with, then :meth:`finish`."""

    def __init__(
        self,
        object_type: ObjectType,
        check: ReferenceCheck,
        *,
        run_dir: str,
        state_base: Any | None,
        integration_id: IntegrationId | None,
        selected: Container[str],
    ) -> None:
        self.object_type = object_type
        self.check = check
        self.run_dir = run_dir
        self.state_base = state_base if integration_id is not None else None
        self.integration_id = integration_id
        self.tap: ReferenceCollector | None = None
        if check == "off":
            return
        targets: dict[ObjectType, Container[str] | None] = {}
        for target in targets_of(object_type):
            published = load_ids(run_dir, target)
            if published is not None:
                targets[target] = published
            elif target.value in selected and _wave(target) >= _wave(object_type):
                targets[target] = None  # staged beside this type: not published yet
            else:
                targets[target] = self._confirmed(target)
        self.tap = ReferenceCollector(object_type, targets, collect_ids=object_type in REFERENCED_TYPES)

    @classmethod
    def start(
        cls,
        object_type: ObjectType,
        params: Mapping[str, Any],
        *,
        run_dir: str,
        state_base: Any | None,
        integration_id: IntegrationId | None,
    ) -> ReferenceRun:
        selected = params.get("entity_types") or [t.value for t in ObjectType]
        return cls(
            object_type,
            parse_reference_check(params.get("reference_check")),
            run_dir=run_dir,
            state_base=state_base,
            integration_id=integration_id,
            selected=selected,
        )

    def _confirmed_ids(self, object_type: ObjectType) -> Iterable[str] | None:
        """The ids the state says Gong holds; None without a state (a dry run with no integration)."""
        if self.state_base is None or self.integration_id is None:
            return None
        from gong_provider.changes.confirmed import confirmed_ids

        return confirmed_ids(self.state_base, self.integration_id, object_type)

    def _confirmed(self, object_type: ObjectType) -> IdSet | None:
        ids = self._confirmed_ids(object_type)
        return None if ids is None else IdSet.of(ids)

    def finish(self, staged_manifest: Any, summary: StageSummary) -> ReferenceReport | None:
        """Publish this type's ids, log the findings and add them to ``summary``; with
        ``reference_check=fail`` and findings, raise :class:`GongReferenceError` (nothing is sent)."""
        if self.tap is None:
            return None
        try:
            own = self.tap.own_ids(self._confirmed_ids(self.object_type) or ())
            if own is not None:
                save_ids(self.run_dir, self.object_type, own)
            report = self.tap.finish(staged_manifest)
        finally:
            self.tap.close()
        report.log(log)
        summary["references_dangling"] = sum(report.dangling.values())
        summary["references_missing"] = sum(report.missing.values())
        summary["reference_examples"] = [str(example) for example in report.examples]
        summary["references_unchecked"] = list(report.unchecked)
        if self.check == "fail" and report.findings:
            raise GongReferenceError(report, summary=summary)
        return report
