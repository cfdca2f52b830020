"""``gong-provider`` console script: run the emulator, validate and stage CRM files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Each sub-parser sets ``handler``: a function of the parsed arguments returning an exit code."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
