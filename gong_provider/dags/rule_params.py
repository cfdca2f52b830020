"""The sync DAG's Params for Gong's rules beyond field formats (issue 19): reference checks,
approval of withheld deletes, verification of a sample. Kept apart from ``params.py`` so each
concern's Params live together."""

from __future__ import annotations

from airflow.sdk import Param

from gong_provider.dags.approval_settings import DEFAULT_APPROVAL_HOURS
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
        "delete_approval_hours": Param(
            DEFAULT_APPROVAL_HOURS,
            type="number",
            minimum=0,
            title="Delete approval timeout (hours)",
            description="Mirror mode: when the guard withholds deletes, the run asks for an approval in "
            "Airflow's Required actions (type, number of deletes, confirmed count, ratio, sample ids). "
            "Approve sends exactly those deletes; Reject, or no answer within this many hours, fails "
            "the type as before. 0: ask nobody (unattended runs; confirm_deletes sends them).",
        ),
        "verify_sample": Param(
            0,
            type="integer",
            minimum=0,
            title="Verify a sample against Gong",
            description="After Gong reports an upload DONE, fetch up to this many uploaded ACCOUNT, "
            "CONTACT, DEAL and LEAD records back through GET /v2/crm/entities (100 ids per call, within "
            "the rate budget) and report how many match what was sent; differences are warnings "
            "naming the fields. A missing contact is reported as such (Gong shows contacts only once "
            "associated with an activity). 0: off.",
        ),
    }
