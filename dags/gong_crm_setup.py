"""
### gong_crm_setup: register the CRM integration in Gong and declare its custom fields

Run it once, by hand (it is created paused and has no schedule):

1. **register**: `PUT /v2/crm/integrations`. Idempotent: when the integration exists, Gong answers
   409 and the hook returns the existing integration's id.
2. **write_schema**: `POST /v2/crm/entity-schema` for each type in the schema file (default
   `dags/data/schema.json`: `{"ACCOUNT": [{"uniqueName": ..., "label": ..., "type": ...}], ...}`).
   Gong replaces the whole field list of a type, so the file lists every custom field.
3. **announce**: prints the integration id to put in `GONG_INTEGRATION_ID` or gong_crm_sync's
   `integration_id` Param.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG, Param, task
from gong_crm_lib import settings

with DAG(
    dag_id=settings.SETUP_DAG_ID,
    dag_display_name="Gong CRM setup",
    description="Register the Gong CRM integration and write its custom-field schema",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    is_paused_upon_creation=True,
    params={
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
            settings.schema_file(),
            type=["null", "string"],
            title="Custom-field schema file",
            description="JSON file {TYPE: [field, ...]} with every custom field per type; empty to skip.",
        ),
    },
    tags=["gong", "crm", "setup"],
    doc_md=__doc__,
) as dag:

    @task(pool=settings.GONG_POOL)
    def register(**context: Any) -> str:
        """The integration id, as a string so that no JSON consumer rounds the 64-bit value."""
        from gong_provider.hooks.gong import GongCrmHook

        params = context["params"]
        integration_id = GongCrmHook(settings.conn_id()).register_integration(
            params["integration_name"], params["owner_email"]
        )
        return str(integration_id)

    @task(pool=settings.GONG_POOL)
    def write_schema(integration_id: str, **context: Any) -> dict[str, int]:
        import json
        import logging

        from gong_provider.hooks.gong import GongCrmHook

        path = context["params"].get("schema_file")
        if not path:
            return {}
        with open(path, encoding="utf-8") as handle:
            schema: dict[str, list[dict[str, Any]]] = json.load(handle)
        hook = GongCrmHook(settings.conn_id())
        written: dict[str, int] = {}
        for object_type, fields in schema.items():
            hook.set_entity_schema(int(integration_id), object_type, fields)
            written[object_type] = len(fields)
            logging.getLogger(__name__).info("%s: %s custom field(s) written", object_type, len(fields))
        return written

    @task
    def announce(integration_id: str, schema: dict[str, int]) -> str:
        message = (
            f"Gong integration id: {integration_id}\n"
            f"Custom fields written: {schema or 'none'}\n"
            f"Use it as {settings.ENV_INTEGRATION_ID}={integration_id} or in gong_crm_sync's "
            "integration_id Param."
        )
        print(message)
        return integration_id

    integration = register()
    announce(integration, write_schema(integration))
