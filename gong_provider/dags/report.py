"""The final report of gong_crm_sync: one row per entity type, as a log table and an XCom dict."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gong_provider.models import ObjectType
from gong_provider.rows import ReportRow, StageSummary, stage_summary_row

log = logging.getLogger(__name__)

COLUMNS = (
    ("outcome", "outcome"),
    ("records_read", "read"),
    ("records_staged", "staged"),
    ("records_rejected", "rejected"),
    ("new", "new"),
    ("changed", "changed"),
    ("unchanged", "unchanged"),
    ("pending_retried", "pending retried"),
    ("deleted", "deleted"),
    ("deletes_withheld", "deletes withheld"),
    ("references_dangling", "dangling refs"),
    ("references_missing", "missing fields"),
    ("verify_matched", "verified"),
    ("verify_mismatched", "mismatched"),
    ("verify_missing", "not in Gong"),
    ("files", "files"),
    ("records_uploaded", "uploaded"),
    ("already_accepted", "409 (already in Gong)"),
    ("gong_success", "Gong success"),
    ("gong_errors", "Gong errors"),
    ("state_generation", "state gen."),
)
FAILED_STATES = {"failed", "upstream_failed"}
FAILING_OUTCOMES = ("failed", "incomplete", "too many rejects")


def group_id(object_type: str) -> str:
    return object_type.lower()


def outcome_of(
    object_type: str,
    states: Mapping[str, Any],
    stage: StageSummary | None,
    summary: Mapping[str, Any] | None,
    selected: Iterable[str] | None = None,
) -> str:
    """not selected, failed, too many rejects, uploaded, dry run, nothing to upload, unchanged,
    skipped or incomplete, from the type's task states and XComs."""
    if selected is not None and object_type not in selected:
        return "not selected"
    prefix = f"{group_id(object_type)}."
    own = {task: str(state) for task, state in states.items() if task.startswith(prefix) and state}
    if any(state in FAILED_STATES for state in own.values()):
        return "failed"
    if stage and stage.get("rejects_over_limit"):
        return "too many rejects"
    if summary:
        return "uploaded"
    if stage and stage.get("dry_run"):
        return "dry run"
    if stage and not stage.get("records_staged"):
        return "nothing to upload"
    if stage and stage.get("records_to_upload") == 0:
        return "unchanged"
    if own.get(f"{prefix}stage") == "skipped":
        return "skipped"
    return "incomplete" if stage else "skipped"


def build_report(
    pull: Callable[[str, str], Any], states: Mapping[str, Any], selected: Iterable[str] | None = None
) -> dict[str, ReportRow]:
    """One row per type. Counts come from the stage (also when it failed after staging), Gong's from
    the commit (also when a wait failed and summarize did not run), the rest from summarize."""
    chosen = None if selected is None else set(selected)
    report: dict[str, ReportRow] = {}
    for object_type in (t.value for t in ObjectType):
        pulled = pull(f"{group_id(object_type)}.stage", "summary")  # None: the stage pushed none
        stage = None if pulled is None else stage_summary_row(pulled, source=f"{group_id(object_type)}.stage")
        summary = pull(f"{group_id(object_type)}.summarize", "return_value")
        commit = pull(f"{group_id(object_type)}.commit", "report")
        verify = pull(f"{group_id(object_type)}.verify", "return_value")
        counts: dict[str, Any] = {key: 0 for key, _ in COLUMNS[1:-1]}
        for source in (stage, (commit or {}).get("gong"), summary, verify):
            counts.update({k: v for k, v in (source or {}).items() if k in counts})
        if commit and commit.get("counts"):  # withheld deletes approved and sent count as deleted
            counts.update({k: commit["counts"].get(k, 0) for k in ("deleted", "deletes_withheld")})
        row: ReportRow = {
            "outcome": outcome_of(object_type, states, stage, summary, chosen),
            "records_read": counts["records_read"],
            "records_staged": counts["records_staged"],
            "records_rejected": counts["records_rejected"],
            "new": counts["new"],
            "changed": counts["changed"],
            "unchanged": counts["unchanged"],
            "pending_retried": counts["pending_retried"],
            "deleted": counts["deleted"],
            "deletes_withheld": counts["deletes_withheld"],
            "references_dangling": counts["references_dangling"],
            "references_missing": counts["references_missing"],
            "verify_matched": counts["verify_matched"],
            "verify_mismatched": counts["verify_mismatched"],
            "verify_missing": counts["verify_missing"],
            "files": counts["files"],
            "records_uploaded": counts["records_uploaded"],
            "already_accepted": counts["already_accepted"],
            "gong_success": counts["gong_success"],
            "gong_errors": counts["gong_errors"],
            # the state generation this run committed (None: nothing committed, e.g. a dry run)
            "state_generation": commit.get("generation") if commit else None,
        }
        if summary and summary.get("asset"):
            row["asset"] = summary["asset"]
        if verify and (verify.get("mismatched") or verify.get("missing")):
            row["verify_examples"] = {"mismatched": verify["mismatched"], "missing": verify["missing"]}
        if stage and (examples := stage.get("reference_examples")):
            row["reference_examples"] = examples
        if stage and (rejects := stage["rejects"]) and stage["records_rejected"]:
            row["rejects"] = rejects
        if stage and (over_limit := stage.get("rejects_over_limit")):
            row["rejects_over_limit"] = over_limit
        refused = (commit or {}).get("gong", {}).get("refused")
        if refused:
            row["refused"] = refused
        report[object_type] = row
    return report


def failure_message(report: Mapping[str, ReportRow]) -> str | None:
    """Why the run fails (None: it does not), naming each type and what to look at: the lines Gong
    refused, the rejects over ``max_reject_ratio`` and their file."""
    failing = [(t, row) for t, row in report.items() if row["outcome"] in FAILING_OUTCOMES]
    if not failing:
        return None
    lines = [f"Gong CRM sync failed for {', '.join(t for t, _ in failing)} (see the table above)"]
    for object_type, row in failing:
        refused = row.get("refused") or []
        if refused:
            lines.append(f"{object_type}: Gong refused {row.get('gong_errors') or len(refused)} line(s):")
            lines.extend(f"  {line}" for line in refused)
        if row.get("rejects_over_limit"):
            lines.append(f"{row['rejects_over_limit']}; rejects: {row.get('rejects')}")
        if not refused and not row.get("rejects_over_limit"):
            lines.append(f"{object_type}: {row['outcome']} (see its tasks' logs)")
    return "\n".join(lines)


def render_table(report: Mapping[str, ReportRow]) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Gong CRM sync")
    table.add_column("type", no_wrap=True)
    for _, title in COLUMNS:
        table.add_column(title, justify="left" if title == "outcome" else "right")
    for object_type, row in report.items():
        cells: Mapping[str, object] = row  # COLUMNS names every column key of ReportRow
        table.add_row(object_type, *("" if cells.get(key) is None else str(cells[key]) for key, _ in COLUMNS))
    buffer = io.StringIO()
    Console(file=buffer, width=320, force_terminal=False, color_system=None).print(table)
    for object_type, row in report.items():
        if row.get("rejects"):
            buffer.write(
                f"{object_type}: {row['records_rejected']} reject(s), each with its file, line, "
                f"objectId, field and reason: {row['rejects']}\n"
            )
        for line in row.get("refused") or []:
            buffer.write(f"{object_type}: Gong refused {line}\n")
    return buffer.getvalue()
