"""Verify a sample of uploaded records against what Gong stores (``GET /v2/crm/entities``).

After Gong reports an upload DONE, :func:`verify_sample` reads up to ``n`` records (upserts, not
deletes) from the uploaded files, fetches them through the hook (at most 100 ids per call, so the
rate budget applies) and compares each field that was sent with what Gong returns. A difference is a
mismatch (a warning naming the fields), an id Gong does not return is missing. Gong documents that
contacts appear only once associated with an activity: a missing CONTACT is reported as such, never
as a mismatch. Gong documents the endpoint for development use; keep ``n`` small.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec

from gong_provider.ids import IntegrationId
from gong_provider.models import ObjectType
from gong_provider.staging.outdir import open_location

log = logging.getLogger(__name__)

VERIFIABLE_TYPES: tuple[ObjectType, ...] = (
    ObjectType.ACCOUNT,
    ObjectType.CONTACT,
    ObjectType.DEAL,
    ObjectType.LEAD,
)
"""The types ``GET /v2/crm/entities`` returns."""
CONTACT_NOTE = "Gong shows a contact only once it is associated with an activity (call, email...)"
EXAMPLES_KEPT = 20


@dataclass(frozen=True)
class Mismatch:
    object_id: str
    fields: list[str]
    """Fields sent whose value Gong returns differently (or not at all)."""


@dataclass
class VerifyReport:
    object_type: str
    checked: int = 0
    matched: int = 0
    mismatched: list[Mismatch] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """For XCom and the report: counts, and up to 20 examples of each."""
        data = asdict(self)
        data["mismatched"] = data["mismatched"][:EXAMPLES_KEPT]
        data["missing"] = data["missing"][:EXAMPLES_KEPT]
        data["verify_matched"] = self.matched
        data["verify_mismatched"] = len(self.mismatched)
        data["verify_missing"] = len(self.missing)
        return data

    def log(self, logger: logging.Logger = log) -> None:
        logger.info(
            "%s: %s of %s sampled record(s) match what Gong stores",
            self.object_type,
            self.matched,
            self.checked,
        )
        for mismatch in self.mismatched[:EXAMPLES_KEPT]:
            logger.warning(
                "%s objectId %s differs in Gong: %s",
                self.object_type,
                mismatch.object_id,
                ", ".join(mismatch.fields),
            )
        if self.missing:
            logger.warning(
                "%s: %s sampled record(s) not in Gong: %s%s",
                self.object_type,
                len(self.missing),
                ", ".join(self.missing[:EXAMPLES_KEPT]),
                f" ({self.note})" if self.note else "",
            )


def sample_records(paths: Iterable[str], n: int) -> list[dict[str, Any]]:
    """Up to ``n`` upserted records (``isDeleted`` records left out) from the files, in order."""
    records: list[dict[str, Any]] = []
    decoder = msgspec.json.Decoder(dict[str, Any])
    for path in paths:
        if len(records) >= n:
            break
        with open_location(path) as handle:
            for line in handle:
                record = decoder.decode(line)
                if record.get("isDeleted") is True:
                    continue
                records.append(record)
                if len(records) >= n:
                    break
    return records


def differing_fields(sent: Mapping[str, Any], stored: Mapping[str, Any]) -> list[str]:
    """The fields of ``sent`` whose value Gong stores differently (absent counts as different)."""
    return sorted(name for name, value in sent.items() if name != "objectId" and stored.get(name) != value)


def verify_sample(
    hook: Any, integration_id: IntegrationId, object_type: ObjectType | str, paths: Iterable[str], n: int
) -> VerifyReport:
    """Compare up to ``n`` uploaded records of ``paths`` with what Gong returns for them."""
    kind = ObjectType(str(object_type))
    if kind not in VERIFIABLE_TYPES:
        raise ValueError(f"GET /v2/crm/entities does not return {kind.value} records")
    report = VerifyReport(kind.value, note=CONTACT_NOTE if kind is ObjectType.CONTACT else None)
    records = sample_records(paths, n) if n > 0 else []
    if not records:
        return report
    stored = hook.get_entities(integration_id, kind, [str(r["objectId"]) for r in records])
    for record in records:
        object_id = str(record["objectId"])
        report.checked += 1
        found = stored.get(object_id)
        if found is None:
            report.missing.append(object_id)
            continue
        differences = differing_fields(record, found)
        if differences:
            report.mismatched.append(Mismatch(object_id, differences))
        else:
            report.matched += 1
    return report
