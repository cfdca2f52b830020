"""``gong-provider`` console script: run the emulator, validate and stage CRM files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gong_provider.models import ObjectType


def build_parser() -> argparse.ArgumentParser:
    from gong_provider.emulator.cli import add_emulator_parser
    from gong_provider.staging.cli import add_stage_parser, add_validate_parser

    parser = argparse.ArgumentParser(
        prog="gong-provider", description="Tools of the Gong provider for Apache Airflow."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_emulator_parser(commands)
    add_validate_parser(commands)
    add_stage_parser(commands)
    fields = commands.add_parser(
        "fields", help="print a type's standard fields", description="Print an entity type's standard fields."
    )
    fields.add_argument("object_type", metavar="TYPE", type=str.upper, choices=[t.value for t in ObjectType])
    fields.set_defaults(handler=_print_fields)
    return parser


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
