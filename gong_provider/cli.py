"""``gong-provider`` console script: run the emulator, validate and stage CRM files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from gong_provider.ids import IntegrationId, parse_integration_id
from gong_provider.models import ObjectType


def build_parser() -> argparse.ArgumentParser:
    from gong_provider.emulator.cli import add_emulator_parser
    from gong_provider.staging.cli import add_stage_parser, add_validate_parser

    parser = argparse.ArgumentParser(
        prog="gong-provider", description="Tools of the Gong provider for Apache Airflow."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_emulator_parser(commands)
    for staging_command in (add_validate_parser(commands), add_stage_parser(commands)):
        _add_registered_schema_options(staging_command)
    fields = commands.add_parser(
        "fields", help="print a type's standard fields", description="Print an entity type's standard fields."
    )
    fields.add_argument("object_type", metavar="TYPE", type=str.upper, choices=[t.value for t in ObjectType])
    fields.set_defaults(handler=_print_fields)
    return parser


def _add_registered_schema_options(parser: argparse.ArgumentParser) -> None:
    """``--integration-id``: check custom fields against the schema registered in Gong, read with
    ``GET /v2/crm/entity-schema`` through ``--gong-conn-id`` (instead of a ``--schema`` file)."""
    parser.add_argument(
        "--integration-id",
        metavar="ID",
        type=_integration_id_argument,
        help="check custom fields against the entity schema registered in Gong for this integration",
    )
    parser.add_argument(
        "--gong-conn-id",
        metavar="CONN_ID",
        default="gong_default",
        help="Airflow connection to Gong, for --integration-id (default gong_default)",
    )
    parser.set_defaults(handler=_with_registered_schema(parser.get_default("handler")))


def _integration_id_argument(text: str) -> IntegrationId:
    """The door of ``--integration-id``: parsed here, a usage error (exit 2) when it is not an id."""
    try:
        return parse_integration_id(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _with_registered_schema(
    handler: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        if args.integration_id is not None and args.schema:
            print("error: give --schema or --integration-id, not both", file=sys.stderr)
            return 2
        if args.integration_id is not None:
            try:
                args.registered_fields = _registered_fields(args)
            except Exception as error:  # no connection, no such integration: one line, no traceback
                print(f"error: cannot read the entity schema from Gong: {error}", file=sys.stderr)
                return 2
        return handler(args)

    return run


def _registered_fields(args: argparse.Namespace) -> list[Any]:
    from gong_provider.airflow_compat import expose_stored_connection
    from gong_provider.hooks.gong import GongCrmHook

    expose_stored_connection(args.gong_conn_id)
    with GongCrmHook(args.gong_conn_id) as hook:
        return hook.get_entity_schema(args.integration_id, args.object_type)


def _print_fields(args: argparse.Namespace) -> int:
    """The same table as the documentation's field reference (docs/fields.md)."""
    from gong_provider.staging.specs import standard_fields_table

    print(standard_fields_table(args.object_type), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Each sub-parser sets ``handler``: a function of the parsed arguments returning an exit code."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
