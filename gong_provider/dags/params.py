"""The Params of the packaged DAGs: what the trigger form shows and what REST API / CLI ``conf`` may hold.

Airflow's trigger form (3.x) treats a Param as required when its ``type`` does not include ``"null"``,
and keeps the Trigger button disabled while a required field is empty (None or ""). So every Param
that may be left empty allows ``null`` and defaults to None rather than "".
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from gong_provider.changes.modes import DEFAULT_MAX_DELETE_RATIO, SYNC_MODES
from gong_provider.dags import settings
from gong_provider.dags.rule_params import rule_params
from gong_provider.ids import (
    INTEGRATION_ID_PATTERN,
    MAX_INTEGRATION_ID,
    IntegrationId,
    parse_integration_id,
)
from gong_provider.models import ObjectType

ENTITY_TYPES = [object_type.value for object_type in ObjectType]


def integration_id_form_param(default: str | None) -> Param:
    """The ``integration_id`` Param of the trigger form and ``conf`` (:func:`integration_id_from`
    parses its value): digits in the form, an exact JSON integer or digits in ``conf``, or None (dry runs).

    The form keeps a text field ("string" first, and ``examples`` set): the form's multi-type field
    would parse the digits as a JavaScript number and round 2271307570613351879 to ...936.
    """
    return Param(
        default,
        type=["string", "integer", "null"],
        pattern=INTEGRATION_ID_PATTERN,
        minimum=0,
        maximum=MAX_INTEGRATION_ID,
        examples=[default] if default else [],
        title="Gong integration id",
        description="The id gong_crm_setup printed (digits; in a REST API or CLI conf also a JSON integer). "
        "Text in the form on purpose: JavaScript numbers would round a 64-bit id such as "
        f"2271307570613351879 to 2271307570613351936. Default: the {settings.ENV_INTEGRATION_ID} "
        "environment variable. May stay empty for a dry run.",
    )


def sync_params(*, integration_id: str | None, source: str | None) -> dict[str, Param]:
    return {
        "integration_id": integration_id_form_param(integration_id),
        "source": Param(
            source,
            type=["null", "string"],
            title="Source folder",
            description="A folder or ObjectStoragePath URL (s3://, gs://, file://...) holding one export "
            "file per type, named after it: business_users.csv, stages.jsonl, accounts.csv, "
            "contacts.jsonl, deals.json, leads.csv (CSV, JSON Lines or JSON, optionally .gz). Default: the "
            f"{settings.ENV_SOURCE} environment variable; none otherwise. Ignored when an SQL connection "
            "is given.",
        ),
        "entity_types": Param(
            ENTITY_TYPES,
            type="array",
            items={"type": "string", "enum": ENTITY_TYPES},
            uniqueItems=True,
            examples=ENTITY_TYPES,
            title="Entity types",
            description="Types to sync; those absent from the source are skipped.",
        ),
        "sql_conn_id": Param(
            None,
            type=["null", "string"],
            title="SQL connection id (optional)",
            description="Read records with SQL through this Airflow connection instead of files.",
        ),
        "sql_queries": Param(
            None,
            type=["null", "object"],
            title="SQL query per type (optional)",
            description='With an SQL connection: {"CONTACT": "SELECT ... WHERE updated_at >= '
            "'{{ data_interval_start }}'\", ...}; column names are Gong's field names. Jinja is rendered.",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="A preview: stage, validate and compute what the run would send and delete "
            "(counts per type in the report), against the change-capture state, read only. Nothing is "
            "uploaded, committed or marked in flight.",
        ),
        "max_reject_ratio": Param(
            settings.DEFAULT_MAX_REJECT_RATIO,
            type="number",
            minimum=0,
            maximum=1,
            title="Max reject ratio",
            description="Invalid records never hold back a type's valid ones: those go, the rejects are "
            "listed in the type's rejects.ldjson (file, line, objectId, field) and sent once fixed. When a "
            "type's rejects are more than this share of its records, the run fails at its end naming the "
            "type (so alerts fire). 0: any reject fails the run.",
        ),
        "unknown_fields": Param(
            "reject",
            type="string",
            enum=["reject", "warn"],
            title="Unknown fields",
            description="A key that is neither a field of its type nor a custom field registered in "
            "Gong (a typo such as firstname): reject its record (with a did-you-mean hint) or warn.",
        ),
        "sync_mode": Param(
            "upsert",
            type="string",
            enum=list(SYNC_MODES),
            title="Sync mode",
            description="upsert: send new, changed and pending records (what Gong has not confirmed); "
            "never delete. mirror: upsert, and delete in Gong the confirmed records gone from the "
            "source (behind the delete guards). full: send every record and rebuild the state from "
            "what Gong confirms. (A conf's legacy resend_key is taken as full.)",
        ),
        "reset_state": Param(
            False,
            type="boolean",
            title="Reset the change-capture state",
            description="Discard what the state says Gong confirmed (for example after a corrupt state "
            "error), send every record and infer no delete in this run.",
        ),
        "max_delete_ratio": Param(
            DEFAULT_MAX_DELETE_RATIO,
            type="number",
            minimum=0,
            maximum=1,
            title="Max delete ratio (mirror)",
            description="Share of a type's confirmed records that mirror mode may delete in one run; "
            "above it the deletes are withheld (upserts still go) and the type fails.",
        ),
        "staging_retention_days": Param(
            settings.staging_retention_days(),
            type="number",
            minimum=settings.MIN_STAGING_RETENTION_DAYS,
            title="Staging retention (days)",
            description="The cleanup task removes this DAG's staged run folders (<staging base>/runs/"
            "<dag_id>/<run_id>) older than this; the change-capture state is never touched. Default: the "
            f"{settings.ENV_STAGING_RETENTION_DAYS} environment variable, else "
            f"{settings.DEFAULT_STAGING_RETENTION_DAYS:g}.",
        ),
        "confirm_deletes": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            title="Confirm deletes (optional)",
            description="Mirror mode: send the deletes even above max_delete_ratio (or from an empty "
            "export) when they are at most this many; the failed run's message names the number.",
        ),
        **rule_params(),
    }


def setup_params(*, schema_file: str | None) -> dict[str, Param]:
    return {
        "integration_name": Param(
            "Airflow CRM sync",
            type="string",
            minLength=1,
            title="Integration name",
            description="Name of the generic CRM integration in Gong (one per company).",
        ),
        "owner_email": Param(
            "crm-admin@example.com",
            type="string",
            pattern=r"^[^@\s]+@[^@\s]+$",
            title="Owner email",
            description="Email address of a Gong user who owns the integration.",
        ),
        "schema_file": Param(
            schema_file,
            type=["null", "string"],
            title="Custom-field schema file (optional)",
            description="JSON file {TYPE: [field, ...]} with every custom field per type; empty to skip. "
            f"Default: the {settings.ENV_SCHEMA_FILE} environment variable.",
        ),
    }


def integration_id_from(params: Any) -> IntegrationId:
    """The run's integration id, exact, or an error that says where to set it: the door of the id
    typed in the form or ``conf`` (the tasks that read Params call this, and carry what it returns)."""
    value = params.get("integration_id")
    if value is None or value == "":
        raise ValueError(
            "integration_id is not set: set the integration_id Param (trigger form or conf), the "
            f"{settings.ENV_INTEGRATION_ID} environment variable or gong_crm_sync_dag(integration_id=...) "
            "to the id gong_crm_setup printed"
        )
    return parse_integration_id(value)
