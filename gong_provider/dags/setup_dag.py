"""gong_crm_setup_dag(): register the CRM integration in Gong and write its custom-field schema."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG, task

from gong_provider.dags import settings
from gong_provider.dags.params import setup_params

SETUP_DOC_MD = """
### gong_crm_setup: register the CRM integration in Gong and declare its custom fields

Run it once, by hand (it is created paused and has no schedule):

1. **register**: `PUT /v2/crm/integrations`. Idempotent: when the integration exists, Gong answers
   409 and the hook returns the existing integration's id.
2. **write_schema**: `POST /v2/crm/entity-schema` for each type in the schema file (the `schema_file`
   Param, default `GONG_CRM_SCHEMA_FILE`; empty skips this step):
   `{"ACCOUNT": [{"uniqueName": ..., "label": ..., "type": ...}], ...}`.
   Gong replaces the whole field list of a type, so the file lists every custom field.
3. **announce**: prints the integration id to put in `GONG_INTEGRATION_ID` or gong_crm_sync's
   `integration_id` Param.
"""


def gong_crm_setup_dag(
    *,
    dag_id: str = settings.SETUP_DAG_ID,
    schema_file: str | None = None,
    fallback_schema_file: str | None = None,
    gong_conn_id: str | None = None,
    pool: str = settings.GONG_POOL,
    **dag_kwargs: Any,
) -> DAG:
    """The gong_crm_setup DAG (manual, created paused). In a file of your dags folder::

        # Airflow DAG: Gong CRM setup
        from gong_provider.dags import gong_crm_setup_dag
        dag = gong_crm_setup_dag()

    ``schema_file`` (else GONG_CRM_SCHEMA_FILE, else ``fallback_schema_file``, else none: no custom
    fields) is the ``schema_file`` Param's default; ``gong_conn_id`` wins over GONG_CONN_ID (default
    ``gong_default``). Other keyword arguments go to ``DAG``.
    """
    conn_id = gong_conn_id or settings.conn_id()
    options: dict[str, Any] = {
        "dag_display_name": "Gong CRM setup",
        "description": "Register the Gong CRM integration and write its custom-field schema",
        "schedule": None,
        "start_date": datetime(2026, 1, 1, tzinfo=timezone.utc),
        "catchup": False,
        "is_paused_upon_creation": True,
        "tags": ["gong", "crm", "setup"],
        "doc_md": SETUP_DOC_MD,
        **dag_kwargs,
    }
    schema_default = settings.first_given(schema_file, settings.schema_file(), fallback_schema_file)
    with DAG(
        dag_id=dag_id,
        schedule=options.pop("schedule"),  # None unless dag_kwargs names one
        params=setup_params(schema_file=schema_default),
        **options,
    ) as dag:
        integration: Any = _register(conn_id, pool)()
        schema: Any = _write_schema(conn_id, pool)(integration)
        _announce(integration, schema)
    return dag


def _register(conn_id: str, pool: str) -> Any:
    """The ``register`` task: ``PUT /v2/crm/integrations`` (the existing integration on a 409)."""

    @task(pool=pool)
    def register(**context: Any) -> str:
        """The integration id, as a string so that no JSON consumer rounds the 64-bit value."""
        from gong_provider.hooks.gong import GongCrmHook

        params = context["params"]
        integration_id = GongCrmHook(conn_id).register_integration(
            params["integration_name"], params["owner_email"]
        )
        return str(integration_id)

    return register


def _write_schema(conn_id: str, pool: str) -> Any:
    """The ``write_schema`` task: each type's custom fields of the ``schema_file`` Param, written whole."""

    @task(pool=pool, multiple_outputs=False)
    def write_schema(integration_id: str, **context: Any) -> dict[str, int]:
        import json
        import logging

        from gong_provider.hooks.gong import GongCrmHook
        from gong_provider.ids import parse_integration_id

        path = context["params"].get("schema_file")
        if not path:
            return {}
        iid = parse_integration_id(integration_id)  # the door: register's XCom holds the digits
        with open(path, encoding="utf-8") as handle:
            schema: dict[str, list[dict[str, Any]]] = json.load(handle)
        hook = GongCrmHook(conn_id)
        written: dict[str, int] = {}
        for object_type, fields in schema.items():
            hook.set_entity_schema(iid, object_type, fields)
            written[object_type] = len(fields)
            logging.getLogger(__name__).info("%s: %s custom field(s) written", object_type, len(fields))
        return written

    return write_schema


# the id to put in GONG_INTEGRATION_ID or the sync DAG's Param (no docstring: it would become doc_md)
@task(task_id="announce")
def _announce(integration_id: str, schema: dict[str, int]) -> str:
    message = (
        f"Gong integration id: {integration_id}\n"
        f"Custom fields written: {schema or 'none'}\n"
        f"Use it as {settings.ENV_INTEGRATION_ID}={integration_id} or in gong_crm_sync's "
        "integration_id Param."
    )
    print(message)
    return integration_id
