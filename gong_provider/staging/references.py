"""Reference checks: records pointing at objects Gong was never sent, found while staging.

Gong's rules beyond field formats: a deal's ``stage`` must be a STAGE objectId, its ``ownerId`` a
BUSINESS_USER objectId; deals without ``accountId`` do not appear in Gong, and without ``ownerId``
or ``closeDate`` they are missing from the deal board. A :class:`ReferenceCollector` is a staging tap
(or is fed by :func:`~gong_provider.staging.validate`): it reads each staged line's reference fields
as the line is written (no second pass over the data), looks each id up in the referenced types'
:class:`~gong_provider.staging.idset.IdSet` (this run's export, plus what the caller adds, such as
change capture's confirmed keys), counts what it cannot find, and keeps up to
:data:`MAX_EXAMPLES` examples with file, line, objectId and field. When the type is itself
referenced, it also collects its own staged ids into a set for the types staged after it.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import msgspec

from gong_provider.exceptions import GongStagingError
from gong_provider.models import ObjectType
from gong_provider.staging.idset import IdSet, IdSetBuilder
from gong_provider.staging.locate import locate_lines
from gong_provider.staging.manifest import StagingManifest
from gong_provider.staging.outdir import OutputDir
from gong_provider.staging.writer import Placement

log = logging.getLogger(__name__)

ReferenceCheck = Literal["warn", "fail", "off"]
REFERENCE_CHECKS: tuple[ReferenceCheck, ...] = ("warn", "fail", "off")
MAX_EXAMPLES = 20
REFERENCES_FOLDER = "references"
"""Under a run's staging folder: ``<TYPE>.ids``, the ids each referenced type staged in the run."""

REFERENCES: Mapping[ObjectType, tuple[tuple[str, ObjectType], ...]] = {
    ObjectType.DEAL: (
        ("accountId", ObjectType.ACCOUNT),
        ("ownerId", ObjectType.BUSINESS_USER),
        ("stage", ObjectType.STAGE),
    ),
    ObjectType.CONTACT: (("accountId", ObjectType.ACCOUNT),),
    ObjectType.LEAD: (
        ("convertedToAccountId", ObjectType.ACCOUNT),
        ("convertedToContactId", ObjectType.CONTACT),
        ("convertedToDealId", ObjectType.DEAL),
    ),
}
"""Per type, each reference field and the type whose objectIds it must name."""
NEEDED_FIELDS: Mapping[ObjectType, tuple[str, ...]] = {
    ObjectType.DEAL: ("accountId", "ownerId", "closeDate"),
}
"""Fields without which Gong does not show the record (deals: in Gong, on the deal board)."""
REFERENCED_TYPES: frozenset[ObjectType] = frozenset(
    target for pairs in REFERENCES.values() for _, target in pairs
)


def targets_of(object_type: ObjectType | str) -> tuple[ObjectType, ...]:
    """The types ``object_type``'s references point at, in Gong's order, without repeats."""
    kind = ObjectType(str(object_type))
    return tuple(dict.fromkeys(target for _, target in REFERENCES.get(kind, ())))


def ids_name(object_type: ObjectType | str) -> str:
    return f"{ObjectType(str(object_type)).value}.ids"


class GongReferenceError(GongStagingError):
    """``reference_check="fail"`` and the type has dangling references or deals Gong will not show."""

    def __init__(self, report: ReferenceReport, *, summary: Mapping[str, Any] | None = None) -> None:
        self.report = report
        self.summary = dict(summary or {})
        """The type's stage summary, for the run's report (the DAG)."""
        super().__init__(
            f"{report.object_type}: {report.summary()} (reference_check=fail: nothing was sent). "
            + "; ".join(str(example) for example in report.examples[:5])
        )


@dataclass(frozen=True)
class Finding:
    """One record's problem: ``dangling`` (names an id Gong was not sent) or ``missing`` (empty)."""

    problem: Literal["dangling", "missing"]
    field: str
    object_id: str | None
    value: str | None
    source: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}, line {self.line}" if self.line is not None else (self.source or "?")
        if self.problem == "missing":
            return f"{where} objectId {self.object_id}: {self.field} is missing"
        return f"{where} objectId {self.object_id}: {self.field} {self.value!r} names no record sent to Gong"


@dataclass
class ReferenceReport:
    """What a reference check found for one type."""

    object_type: str
    records: int = 0
    dangling: dict[str, int] = field(default_factory=dict)
    """Per reference field, how many records name an id that is neither exported nor confirmed."""
    missing: dict[str, int] = field(default_factory=dict)
    """Per needed field, how many records lack it."""
    unchecked: list[str] = field(default_factory=list)
    """Reference fields not checked: their type's ids were not available."""
    examples: list[Finding] = field(default_factory=list)

    @property
    def findings(self) -> int:
        return sum(self.dangling.values()) + sum(self.missing.values())

    def summary(self) -> str:
        parts = [f"{count} dangling {name}" for name, count in sorted(self.dangling.items())]
        parts += [f"{count} without {name}" for name, count in sorted(self.missing.items())]
        text = ", ".join(parts) or "no dangling references"
        if self.unchecked:
            text += f" ({', '.join(self.unchecked)} not checked: the referenced ids were not available)"
        return f"{text} in {self.records} record(s)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceReport:
        rest = {k: v for k, v in data.items() if k != "examples"}
        return cls(examples=[Finding(**e) for e in data.get("examples", [])], **rest)

    def log(self, logger: logging.Logger = log) -> None:
        """Counts and the examples, as warnings when there is anything to fix."""
        if not self.findings:
            logger.info("%s references: %s", self.object_type, self.summary())
            return
        logger.warning("%s references: %s", self.object_type, self.summary())
        for example in self.examples:
            logger.warning("%s reference: %s", self.object_type, example)

    def raise_for(self, check: ReferenceCheck | str) -> None:
        """Raise :class:`GongReferenceError` when ``check`` is ``fail`` and anything was found."""
        if check == "fail" and self.findings:
            raise GongReferenceError(self)


def parse_reference_check(value: Any) -> ReferenceCheck:
    """``warn`` (also for None or empty), ``fail`` or ``off``."""
    text = "warn" if value in (None, "") else str(value)
    if text not in REFERENCE_CHECKS:
        raise ValueError(f"reference_check must be one of {', '.join(REFERENCE_CHECKS)}, got {value!r}")
    return text


Location = tuple[int, int, int] | tuple[str, int | None]
"""``(generation, part, staged line)`` from a staging tap, or ``(source, line)`` from validate."""


class ReferenceCollector:
    """A :class:`~gong_provider.staging.pipeline.StagingTap` checking one type's references.

    ``targets`` maps each referenced type to the ids Gong holds or will be sent (None: unknown, the
    fields pointing there are not checked). ``collect_ids`` also gathers the type's own staged ids
    (:meth:`own_ids`), for the types that reference it.
    """

    def __init__(
        self,
        object_type: ObjectType | str,
        targets: Mapping[ObjectType, Container[str] | None],
        *,
        collect_ids: bool = False,
    ) -> None:
        self.object_type = ObjectType(str(object_type))
        self.checks = [
            (name, targets[target])
            for name, target in REFERENCES.get(self.object_type, ())
            if targets.get(target) is not None
        ]
        self.needed = NEEDED_FIELDS.get(self.object_type, ())
        self.report = ReferenceReport(
            self.object_type.value,
            unchecked=[
                name for name, target in REFERENCES.get(self.object_type, ()) if targets.get(target) is None
            ],
        )
        names = sorted({name for name, _ in self.checks} | set(self.needed))
        fields = msgspec.defstruct(
            f"References{self.object_type.value.title()}", [(name, Any, None) for name in names], gc=False
        )
        self._decoder = msgspec.json.Decoder(fields)
        self._reads = bool(names)
        self._locations: list[Location] = []
        self._builder = IdSetBuilder() if collect_ids else None

    # -- the staging tap ---------------------------------------------------------------------

    def block(self, generation: int, placement: Placement, data: bytes, object_ids: Sequence[str]) -> None:
        self._ids(object_ids)
        if self._reads:
            for offset, record in enumerate(self._decoder.decode_lines(data)):
                where = (generation, placement.part, placement.line + offset)
                self._check(record, object_ids[offset], where)
        else:
            self.report.records += len(object_ids)

    def record(self, generation: int, placement: Placement, line: bytes, object_id: str) -> None:
        self._ids((object_id,))
        record = self._decoder.decode(line) if self._reads else None
        self._check(record, object_id, (generation, placement.part, placement.line))

    def reject(self, object_id: str | None) -> None:
        """A rejected record is not sent: it is not among the ids others may reference."""

    # -- validate's feed ---------------------------------------------------------------------

    def add_lines(self, data: bytes, object_ids: Sequence[str], source: str, first_line: int) -> None:
        """Valid JSON Lines read from ``source`` from ``first_line`` on."""
        self._ids(object_ids)
        if self._reads:
            for offset, record in enumerate(self._decoder.decode_lines(data)):
                self._check(record, object_ids[offset], (source, first_line + offset))
        else:
            self.report.records += len(object_ids)

    def add_record(self, record: Mapping[str, Any], source: str, line: int | None) -> None:
        """One valid, normalized record."""
        object_id = str(record["objectId"])
        self._ids((object_id,))
        self._check(_Fields(record), object_id, (source, line))

    # -- results -----------------------------------------------------------------------------

    def finish(self, manifest: StagingManifest | None = None) -> ReferenceReport:
        """The report, its examples located in the source (through ``manifest``'s sidecars)."""
        located: list[Finding] = []
        for finding, where in zip(self.report.examples, self._locations, strict=True):
            source, line = _locate(where, manifest)
            located.append(
                Finding(finding.problem, finding.field, finding.object_id, finding.value, source, line)
            )
        self.report.examples = located
        self._locations = []
        return self.report

    def own_ids(self, extra: Iterable[str] = ()) -> IdSet | None:
        """The type's staged ids and ``extra`` ones (``collect_ids=True``), built once; the builder
        is then released."""
        if self._builder is None:
            return None
        try:
            for object_id in extra:
                self._builder.add(object_id)
            return self._builder.build()
        finally:
            self._builder.close()
            self._builder = None

    def close(self) -> None:
        if self._builder is not None:
            self._builder.close()
            self._builder = None

    # -- internals ---------------------------------------------------------------------------

    def _ids(self, object_ids: Sequence[str]) -> None:
        if self._builder is not None:
            for object_id in object_ids:
                self._builder.add(object_id)

    def _check(self, record: Any, object_id: str, where: Location) -> None:
        report = self.report
        report.records += 1
        if record is None:
            return
        for name in self.needed:
            if getattr(record, name) in (None, ""):
                report.missing[name] = report.missing.get(name, 0) + 1
                self._example(Finding("missing", name, object_id, None), where)
        for name, ids in self.checks:
            value = getattr(record, name)
            if value in (None, "") or not isinstance(value, str):
                continue
            if value not in ids:  # type: ignore[operator]
                report.dangling[name] = report.dangling.get(name, 0) + 1
                self._example(Finding("dangling", name, object_id, value), where)

    def _example(self, finding: Finding, where: Location) -> None:
        if len(self.report.examples) < MAX_EXAMPLES:
            self.report.examples.append(finding)
            self._locations.append(where)


class AnyOf:
    """Ids found in any of several sets (this run's export, the confirmed state)."""

    def __init__(self, *sets: Container[str]) -> None:
        self.sets = sets

    def __contains__(self, object_id: object) -> bool:
        return any(object_id in ids for ids in self.sets)


class _Fields:
    """Attribute access to a normalized record's fields, like the decoded structs."""

    def __init__(self, record: Mapping[str, Any]) -> None:
        self._record = record

    def __getattr__(self, name: str) -> Any:
        return self._record.get(name)


def _locate(where: Location, manifest: StagingManifest | None) -> tuple[str | None, int | None]:
    if len(where) == 2:
        return where[0], where[1]
    generation, part, line = where
    for staged in manifest.files if manifest is not None else ():
        if staged.generation == generation and staged.part == part:
            found = locate_lines(staged, [line], object_ids=False).get(line)
            if found is not None:
                return found.source, found.source_line
            return staged.path, line
    return None, None


def save_ids(run_dir: Any, object_type: ObjectType | str, ids: IdSet) -> str:
    """Publish a type's ids under ``<run_dir>/references/`` for the types staged after it."""
    folder = OutputDir(run_dir).child(REFERENCES_FOLDER)
    folder.mkdir()
    return ids.save(folder, ids_name(object_type))


def load_ids(run_dir: Any, object_type: ObjectType | str) -> IdSet | None:
    """The ids :func:`save_ids` published for ``object_type`` in this run; None when there are none."""
    try:
        return IdSet.load(OutputDir(run_dir).child(REFERENCES_FOLDER), ids_name(object_type))
    except (FileNotFoundError, NotADirectoryError):
        return None
