"""``gong-provider validate``'s reference options: several exports checked together.

``--also TYPE=FILE`` (repeatable) validates more exports with the main one, in Gong's order, and
checks each type's references (a deal's accountId, ownerId and stage; a contact's accountId; a lead's
convertedTo* ids) against the ids of the others; ``--references warn|fail|off`` says what findings
do (default: warn when ``--also`` is given, else off). With ``fail``, findings exit with 1.
"""

from __future__ import annotations

import argparse
from typing import Any

from gong_provider.models import ObjectType
from gong_provider.staging.references import REFERENCE_CHECKS


def add_reference_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "references", "check references between several exports (deals -> accounts, users, stages...)"
    )
    group.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="TYPE=FILE",
        help="another export to validate with FILE, e.g. ACCOUNT=accounts.csv (repeatable)",
    )
    group.add_argument(
        "--references",
        choices=REFERENCE_CHECKS,
        default=None,
        help="what reference findings do: warn (default with --also), fail (exit 1), off",
    )


def wants_references(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "also", None)) or getattr(args, "references", None) in ("warn", "fail")


def parse_also(values: list[str]) -> dict[ObjectType | str, Any]:
    """``TYPE=FILE`` pairs by type."""
    sources: dict[ObjectType | str, Any] = {}
    for value in values:
        name, sep, path = value.partition("=")
        try:
            kind = ObjectType(name.strip().upper())
        except ValueError:
            kind = None
        if not sep or kind is None or not path.strip():
            types = ", ".join(t.value for t in ObjectType)
            raise ValueError(f"--also {value!r}: expected TYPE=FILE with TYPE one of {types}")
        if kind in sources:
            raise ValueError(f"--also: {kind.value} is given twice")
        sources[kind] = path.strip()
    return sources


def run_cross_validate(
    args: argparse.Namespace, options: dict[str, Any], source: Any, console: Any, errors: Any
) -> int:
    """Validate FILE and the ``--also`` exports together; print each type's counts and findings."""
    from rich.markup import escape

    from gong_provider.staging.cli import (
        EXIT_OK,
        EXIT_REJECTS,
        _print_rejects,
        _summary,
        _verdict,
        load_schema,
    )
    from gong_provider.staging.crosscheck import check_references

    check = args.references or "warn"
    main_type = ObjectType(options.pop("object_type"))
    custom = options.pop("custom_fields", None)
    sources = parse_also(args.also)
    if main_type in sources:
        raise ValueError(f"--also: {main_type.value} is already FILE's --type")
    sources[main_type] = source
    per_type: dict[ObjectType, dict[str, Any]] = {
        kind: {"custom_fields": load_schema(args.schema, kind.value) if args.schema else None}
        for kind in map(ObjectType, sources)
    }
    if custom is not None:
        per_type[main_type]["custom_fields"] = custom
    results = check_references(sources, per_type=per_type, keep_rejects=args.show_rejects, **options)
    code = EXIT_OK
    for name, result in results.items():
        report, refs = result.validation, result.references
        rows: dict[str, Any] = {
            "records read": report.records_read,
            "valid": report.records_valid,
            "rejected": report.records_rejected,
            "generations": report.generations,
        }
        if check != "off":
            rows["dangling references"] = sum(refs.dangling.values())
            rows["missing fields"] = sum(refs.missing.values())
        _summary(console, f"{name} · {report.source}", rows)
        _print_rejects(console, report.first_rejects, report.records_rejected, args.show_rejects)
        code = max(
            code,
            _verdict(errors, name, report.records_rejected, report.records_read, args.max_reject_ratio),
        )
        if check == "off":
            continue
        if refs.findings or refs.unchecked:
            colour = "red" if check == "fail" else "yellow"
            errors.print(
                f"[bold {colour}]references:[/] {escape(name)}: {escape(refs.summary())}", soft_wrap=True
            )
            for example in refs.examples:
                console.print(f"  {escape(str(example))}", soft_wrap=True)
        if check == "fail" and refs.findings:
            code = max(code, EXIT_REJECTS)
    return code
