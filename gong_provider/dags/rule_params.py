"""The sync DAG's Params for Gong's rules beyond field formats (issue 19): reference checks,
approval of withheld deletes, verification of a sample. Kept apart from ``params.py`` so each
concern's Params live together."""

from __future__ import annotations

from airflow.sdk import Param

from gong_provider.staging.references import MAX_EXAMPLES, REFERENCE_CHECKS


def rule_params() -> dict[str, Param]:
    return {
        "reference_check": Param(
            "warn",
            type="string",
            enum=list(REFERENCE_CHECKS),
            title="Reference check",
            description="Records naming an account, owner, stage, contact or deal that is neither in "
            "this run's export nor confirmed in Gong, and deals without accountId, ownerId or "
            f"closeDate (which Gong does not show). warn: counts and up to {MAX_EXAMPLES} examples in "
            "the log and the report. fail: the type fails before its upload, nothing is sent. off.",
        ),
    }
