"""``gong-provider validate`` and ``gong-provider stage``.

Exit codes: 0 success: every record is valid (and staged), or the rejects are within the
``--max-reject-ratio`` the user chose (the rejects and a warning line are printed); 1 more records were
rejected than ``--max-reject-ratio`` allows (``stage`` still writes the files, the rejects and the
manifest, so they can be read); 2 the source or the options cannot be used (missing file, unreadable
header, bad mapping).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gong_provider.exceptions import GongStagingError
from gong_provider.models import CustomField, ObjectType

EXIT_OK = 0
EXIT_REJECTS = 1
EXIT_UNUSABLE = 2
SHOW_REJECTS = 10


def parse_mapping(values: Sequence[str] | None) -> dict[str, str]:
    """``--mapping`` as a JSON object or ``column=field`` pairs (comma-separated or repeated)."""
    mapping: dict[str, str] = {}
    for value in values or ():
        text = value.strip()
        if text.startswith("{"):
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError as error:
                raise ValueError(f"--mapping is not valid JSON: {error}") from None
            if not isinstance(loaded, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()
            ):
                raise ValueError(
                    '--mapping JSON must map column names to field names: {"email": "emailAddress"}'
                )
            mapping.update(loaded)
            continue
        for pair in filter(None, (p.strip() for p in text.split(","))):
            column, sep, name = pair.partition("=")
            if not sep or not column.strip() or not name.strip():
                raise ValueError(f"--mapping {pair!r}: expected column=field")
            mapping[column.strip()] = name.strip()
    return mapping


def load_schema(path: str, object_type: str) -> list[CustomField]:
    """Custom fields from a JSON file: a list of fields, or ``{TYPE: [fields]}`` (also Gong's
    ``objectTypeToSelectedFields`` response)."""
    try:
        data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"--schema {path}: {error}") from None
    if isinstance(data, dict):
        data = data.get("objectTypeToSelectedFields", data)
        data = data.get(object_type, [])
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ValueError(f"--schema {path}: expected a list of custom fields or {{TYPE: [fields]}}")
    try:
        return [CustomField.from_json(item) for item in data]
    except KeyError as error:
        raise ValueError(f"--schema {path}: a field has no {error}") from None


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--type",
        dest="object_type",
        required=True,
        type=str.upper,
        choices=[t.value for t in ObjectType],
        help="Gong object type of the records",
    )
    parser.add_argument(
        "--mapping",
        action="append",
        metavar="MAP",
        help='column-to-field mapping: JSON {"email": "emailAddress"} or email=emailAddress,... (repeatable)',
    )
    parser.add_argument("--timezone", default="UTC", help="time zone of naive date-times (default UTC)")
    parser.add_argument("--schema", metavar="FILE", help="JSON file with the entity schema's custom fields")
    parser.add_argument(
        "--unknown-fields",
        choices=("reject", "warn"),
        default="reject",
        help="a key that is neither a field of the type nor a custom field of --schema: reject its "
        "record (default; near misses of standard fields only, without --schema) or warn and keep it",
    )
    parser.add_argument(
        "--max-reject-ratio",
        type=float,
        default=0.0,
        help="fraction of rejected records tolerated, with a warning (default 0: any reject fails)",
    )
    parser.add_argument(
        "--max-file-bytes", type=int, default=None, help="largest staged file (default 199,000,000)"
    )
    parser.add_argument(
        "--max-line-bytes", type=int, default=None, help="longest accepted input line (default 1 MiB)"
    )
    parser.add_argument(
        "--conn-id",
        metavar="CONN_ID",
        help="read SOURCE as a SQL query on this Airflow DB connection instead of a file",
    )
    parser.add_argument(
        "--show-rejects", type=int, default=SHOW_REJECTS, help="how many rejects to print (default 10)"
    )


def add_validate_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "validate",
        help="check a CRM export against Gong's rules, writing nothing",
        description="Check a CRM export (CSV, JSON Lines, JSON; optionally gzip) against Gong's rules.",
    )
    parser.add_argument("source", metavar="FILE", help="path or URL (s3://...), or a query with --conn-id")
    _common_arguments(parser)
    from gong_provider.staging.cli_references import add_reference_arguments

    add_reference_arguments(parser)
    parser.set_defaults(handler=run_validate)
    return parser


def add_stage_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "stage",
        help="turn a CRM export into Gong-ready LDJSON files and a manifest",
        description="Normalize, validate and write Gong-ready LDJSON files, rejects and a manifest.",
    )
    parser.add_argument("source", metavar="SOURCE", help="path or URL (s3://...), or a query with --conn-id")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (path or URL)")
    _common_arguments(parser)
    parser.set_defaults(handler=run_stage)
    return parser


def _options(args: argparse.Namespace) -> dict[str, Any]:
    from gong_provider.staging.pipeline import DEFAULT_MAX_FILE_BYTES
    from gong_provider.staging.readers import DEFAULT_MAX_LINE_BYTES

    return {
        "object_type": args.object_type,
        "mapping": parse_mapping(args.mapping),
        "timezone": args.timezone,
        "max_reject_ratio": args.max_reject_ratio,
        "max_file_bytes": args.max_file_bytes or DEFAULT_MAX_FILE_BYTES,
        "max_line_bytes": args.max_line_bytes or DEFAULT_MAX_LINE_BYTES,
        "custom_fields": load_schema(args.schema, args.object_type)
        if args.schema
        else getattr(args, "registered_fields", None),  # read from Gong by the console script
        "unknown_fields": args.unknown_fields,
    }


def _source(args: argparse.Namespace) -> Any:
    if args.conn_id:
        from gong_provider.airflow_compat import expose_stored_connection
        from gong_provider.staging.sql import SqlSource

        expose_stored_connection(args.conn_id)  # also one added with `airflow connections add`

        return SqlSource(conn_id=args.conn_id, sql=args.source)
    return args.source


@contextmanager
def _progress(console: Any, label: str) -> Iterator[Callable[[int], None] | None]:
    if not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} records"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=None)
        yield lambda read: progress.update(task, completed=read)


def _print_rejects(console: Any, rejects: Sequence[Any], total: int, limit: int) -> None:
    if not rejects or limit <= 0:
        return
    from rich.markup import escape

    console.print(f"[bold red]First rejects[/] ({min(limit, len(rejects))} of {total}):")
    for reject in rejects[:limit]:
        console.print(f"  {escape(str(reject))}", soft_wrap=True)


def _summary(console: Any, title: str, rows: Mapping[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=True)
    table.add_column("")
    table.add_column("value", justify="right")
    for name, value in rows.items():
        table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)


def _fail(console: Any, error: Exception) -> int:
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
    return EXIT_UNUSABLE


def _verdict(console: Any, object_type: str, rejected: int, read: int, max_reject_ratio: float) -> int:
    """Rejects within the user's tolerance are a success with a warning; beyond it, a failure."""
    from rich.markup import escape

    from gong_provider.staging.errors import rejects_exceed, rejects_line

    if not rejected:
        return EXIT_OK
    line = escape(rejects_line(object_type, rejected, read, max_reject_ratio))
    if rejects_exceed(rejected, read, max_reject_ratio):
        console.print(f"[bold red]failed:[/] {line}", soft_wrap=True)
        return EXIT_REJECTS
    console.print(f"[bold yellow]warning:[/] {line}", soft_wrap=True)
    return EXIT_OK


def run_validate(args: argparse.Namespace) -> int:
    from rich.console import Console

    from gong_provider.staging.cli_references import run_cross_validate, wants_references
    from gong_provider.staging.pipeline import validate

    console, errors = Console(), Console(stderr=True)
    try:
        options = _options(args)
        if wants_references(args):
            return run_cross_validate(args, options, _source(args), console, errors)
        with _progress(errors, f"Validating {args.object_type}") as progress:
            report = validate(_source(args), progress=progress, keep_rejects=args.show_rejects, **options)
    except (GongStagingError, ValueError, OSError) as error:
        return _fail(errors, error)
    _summary(
        console,
        f"{report.object_type} · {report.source}",
        {
            "records read": report.records_read,
            "valid": report.records_valid,
            "rejected": report.records_rejected,
            "generations": report.generations,
        },
    )
    _print_rejects(console, report.first_rejects, report.records_rejected, args.show_rejects)
    return _verdict(
        errors, report.object_type, report.records_rejected, report.records_read, args.max_reject_ratio
    )


def run_stage(args: argparse.Namespace) -> int:
    from rich.console import Console

    from gong_provider.staging.errors import GongRejectLimitError
    from gong_provider.staging.manifest import load_manifest, manifest_path
    from gong_provider.staging.pipeline import stage

    console, errors = Console(), Console(stderr=True)
    out = str(args.out)
    try:
        options = _options(args)
        with _progress(errors, f"Staging {args.object_type}") as progress:
            try:
                manifest = stage(_source(args), out_dir=args.out, progress=progress, **options)
            except GongRejectLimitError:  # the files and the manifest are written: show them
                manifest = load_manifest(manifest_path(f"{out.rstrip('/')}/{args.object_type}"))
    except (GongStagingError, ValueError, OSError) as error:
        return _fail(errors, error)
    _summary(
        console,
        f"{manifest.object_type} · {', '.join(manifest.sources)}",
        {
            "records read": manifest.records_read,
            "staged": manifest.records_staged,
            "rejected": manifest.records_rejected,
            "files": len(manifest.files),
            "generations": len(manifest.generations),
            "bytes": sum(f.bytes for f in manifest.files),
            "manifest": manifest_path(f"{out.rstrip('/')}/{manifest.object_type}"),
        },
    )
    if manifest.records_rejected:
        _print_rejects(
            console,
            _read_rejects(manifest.rejects_path, args.show_rejects),
            manifest.records_rejected,
            args.show_rejects,
        )
        console.print(f"every reject: {manifest.rejects_path}", soft_wrap=True)
    return _verdict(
        errors, manifest.object_type, manifest.records_rejected, manifest.records_read, args.max_reject_ratio
    )


def _read_rejects(path: str | None, limit: int) -> list[str]:
    if not path or limit <= 0:
        return []
    from gong_provider.staging.outdir import open_location
    from gong_provider.staging.pipeline import Reject

    shown: list[str] = []
    with open_location(path) as handle:
        for raw in handle:
            shown.append(str(Reject.from_dict(json.loads(raw))))
            if len(shown) >= limit:
                break
    return shown


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - convenience for python -m
    parser = argparse.ArgumentParser(prog="gong-provider")
    commands = parser.add_subparsers(dest="command", required=True)
    add_validate_parser(commands)
    add_stage_parser(commands)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
