"""The custom fields registered for a type, as the sync's stage task checks records against them.

Gong's ``GET /v2/crm/entity-schema`` is the truth (what gong_crm_setup, or anyone, registered); with
no integration id (a dry run) the schema file gong_crm_setup would write (``GONG_CRM_SCHEMA_FILE``)
stands in. A type with no custom field registered at all is taken as "schema unknown" rather than
"no custom field allowed" (a sync run before gong_crm_setup wrote the schema, as against a fresh
emulator): staging then rejects only near misses of standard fields and passes the other keys
unchecked, with a logged warning naming the way out. BUSINESS_USER and STAGE have no custom fields
in Gong: every key outside their standard fields is unknown.
"""

from __future__ import annotations

import logging

from gong_provider.dags import settings
from gong_provider.ids import IntegrationId
from gong_provider.models import SCHEMA_OBJECT_TYPES, CustomField, ObjectType

log = logging.getLogger(__name__)


def registered_custom_fields(
    object_type: ObjectType, *, integration_id: IntegrationId | None, gong_conn_id: str | None = None
) -> list[CustomField] | None:
    """The type's registered custom fields ([] when it can have none), or None when unknown."""
    if object_type not in SCHEMA_OBJECT_TYPES:
        return []
    if integration_id is not None:
        from gong_provider.hooks.gong import GongCrmHook

        conn_id = gong_conn_id or settings.conn_id()
        fields = GongCrmHook(conn_id).get_entity_schema(integration_id, object_type)
        where = "registered in Gong"
    else:
        path = settings.schema_file()
        if not path:
            return None
        from gong_provider.staging.cli import load_schema

        fields = load_schema(path, object_type.value)
        where = f"in the schema file {path}"
    if not fields:
        log.warning(
            "%s: no custom field %s, so other keys are passed unchecked (Gong ignores a key it was not "
            "told of): list them in the schema file and run gong_crm_setup",
            object_type.value,
            where,
        )
        return None
    log.info("%s: %s custom field(s) %s", object_type.value, len(fields), where)
    return fields
