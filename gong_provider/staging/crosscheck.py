"""Validate several exports together, checking the references between them (``gong-provider validate``
with several files, or a user's own code before staging)."""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Any

from gong_provider.models import UPLOAD_WAVES, ObjectType
from gong_provider.staging.pipeline import StagingSource, ValidationReport, validate
from gong_provider.staging.references import (
    REFERENCED_TYPES,
    AnyOf,
    ReferenceCollector,
    ReferenceReport,
    targets_of,
)

GONG_ORDER: tuple[ObjectType, ...] = tuple(kind for wave in UPLOAD_WAVES for kind in wave)
"""Users and stages, accounts, then contacts, deals and leads: every type after the types it references."""


@dataclass(frozen=True)
class CrossCheck:
    """One type's validation and reference findings."""

    validation: ValidationReport
    references: ReferenceReport


def check_references(
    sources: Mapping[ObjectType | str, StagingSource],
    *,
    known: Mapping[ObjectType, Container[str]] | None = None,
    per_type: Mapping[ObjectType, Mapping[str, Any]] | None = None,
    **options: Any,
) -> dict[str, CrossCheck]:
    """Validate each source (by type) as :func:`~gong_provider.staging.validate` would, in Gong's
    order, and check each type's references against the ids of the sources given before it, and
    against ``known`` (ids Gong already holds, e.g. change capture's confirmed keys). ``options`` go
    to every ``validate`` call, ``per_type[type]`` (e.g. ``custom_fields``) to that type's. A referenced
    type neither given nor known is not checked (its fields are listed as ``unchecked``).

    One pass over each source; each referenced type's ids are held as an
    :class:`~gong_provider.staging.idset.IdSet` (8 bytes per id).
    """
    by_type = {ObjectType(str(kind)): source for kind, source in sources.items()}
    known = dict(known or {})
    exported: dict[ObjectType, Container[str]] = {}
    results: dict[str, CrossCheck] = {}
    for kind in GONG_ORDER:
        if kind not in by_type:
            continue
        targets: dict[ObjectType, Container[str] | None] = {}
        for target in targets_of(kind):
            sets = [s for s in (exported.get(target), known.get(target)) if s is not None]
            targets[target] = AnyOf(*sets) if sets else None
        collector = ReferenceCollector(kind, targets, collect_ids=kind in REFERENCED_TYPES)
        try:
            validation = validate(
                by_type[kind],
                object_type=kind,
                references=collector,
                **{**options, **(per_type or {}).get(kind, {})},
            )
            own = collector.own_ids()
        finally:
            collector.close()
        if own is not None:
            exported[kind] = own
        results[kind.value] = CrossCheck(validation, collector.finish())
    return results
