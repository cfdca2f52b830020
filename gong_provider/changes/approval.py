"""Deletes the guard withheld, sent after a person approves them (issue 19).

When mirror mode's guard withholds deletes (more than ``max_delete_ratio`` of the confirmed keys),
:func:`~gong_provider.changes.stage_changes` still writes them, apart from the upload files, as
``ChangePlan.withheld_files``. A caller that obtains an approval (the sync DAG asks through Airflow's
human-in-the-loop operator) uploads exactly those files, and passes their final statuses to
:func:`~gong_provider.changes.commit_changes` with the others: the confirmed deletes leave the state
and the guard no longer fails the type. Without an approval the files are never uploaded, the keys
stay as they were, and :meth:`CommitReport.raise_for_guard` fails the type as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

import msgspec

from gong_provider.staging.outdir import open_location

if TYPE_CHECKING:
    from gong_provider.changes.commit import CommitReport

SAMPLE_SIZE = 20


class _Id(msgspec.Struct):
    objectId: str


def withheld_request(plan: Mapping[str, Any], *, sample: int = SAMPLE_SIZE) -> dict[str, Any] | None:
    """What an approver must see for a plan's withheld deletes (None when there are none): the type,
    the number of deletes, the confirmed count, the ratio, a sample of objectIds and the files."""
    files = list(plan.get("withheld_files") or [])
    if not files:
        return None
    deletes = int((plan.get("counts") or {}).get("deletes_withheld") or 0)
    confirmed = int(plan.get("confirmed") or 0)
    decoder = msgspec.json.Decoder(_Id)
    ids: list[str] = []
    for path in files:
        with open_location(path) as handle:
            ids += [decoder.decode(line).objectId for line in islice(handle, sample - len(ids))]
        if len(ids) >= sample:
            break
    return {
        "object_type": plan["object_type"],
        "deletes": deletes,
        "confirmed": confirmed,
        "ratio": deletes / confirmed if confirmed else 1.0,
        "sample": ids,
        "files": files,
        "guard": plan.get("guard"),
    }


def approved_withheld(report: CommitReport) -> None:
    """A commit whose withheld deletes were approved and sent: they count as deletes, no guard."""
    report.counts = dataclasses.replace(
        report.counts,
        deleted=report.counts.deleted + report.counts.deletes_withheld,
        deletes_withheld=0,
    )
    report.guard = None
