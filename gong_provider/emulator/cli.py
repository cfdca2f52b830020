"""``gong-provider emulator`` (and ``python -m gong_provider.emulator``): options, env vars, defaults."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from gong_provider.emulator.config import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_INTEGRATION_ID,
    DEFAULT_INTEGRATION_NAME,
    DEFAULT_RATE_LIMIT_PER_DAY,
    DEFAULT_RATE_LIMIT_PER_SECOND,
    DEFAULT_TOKEN,
    RUNTIME_SETTINGS,
    EmulatorConfig,
    EmulatorSettings,
)

ENV_PREFIX = "GONG_EMULATOR_"


def _env(name: str, default: Any) -> Any:
    return os.environ.get(ENV_PREFIX + name.upper(), default)


def _env_flag(name: str) -> bool:
    return os.environ.get(ENV_PREFIX + name.upper(), "").strip().lower() in ("1", "true", "yes", "on")


def add_emulator_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option also reads ``GONG_EMULATOR_<OPTION>`` (e.g. GONG_EMULATOR_PORT) as its default.

    Here: where it listens and keeps its state, the credentials it accepts, the integration it
    starts with; then how it answers."""
    parser.add_argument(
        "--host", default=_env("host", "127.0.0.1"), help="address to bind (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=int(_env("port", 8085)), help="port (default 8085; 0 picks a free one)"
    )
    parser.add_argument(
        "--data-dir",
        default=_env("data_dir", None),
        help="where the SQLite state and uploaded files live (default: a fresh temporary directory)",
    )
    parser.add_argument("--access-key", default=_env("access_key", DEFAULT_ACCESS_KEY))
    parser.add_argument("--access-key-secret", default=_env("access_key_secret", DEFAULT_ACCESS_KEY_SECRET))
    parser.add_argument("--token", default=_env("token", DEFAULT_TOKEN), help="accepted OAuth bearer token")
    parser.add_argument(
        "--integration-id",
        type=int,
        default=int(_env("integration_id", DEFAULT_INTEGRATION_ID)),
        help=f"id of the integration registered at start (default {DEFAULT_INTEGRATION_ID})",
    )
    parser.add_argument(
        "--integration-name",
        default=_env("integration_name", DEFAULT_INTEGRATION_NAME),
        help=f"name of the integration registered at start (default {DEFAULT_INTEGRATION_NAME!r}, "
        "the name gong_crm_setup registers by default)",
    )
    parser.add_argument(
        "--no-integration",
        action="store_true",
        default=_env_flag("no_integration"),
        help="start with no registered integration",
    )
    _add_behaviour_arguments(parser)


def _add_behaviour_arguments(parser: argparse.ArgumentParser) -> None:
    """How the emulator answers: its processing delays, Gong's rate limits, its log level."""
    parser.add_argument(
        "--processing-delay",
        type=float,
        default=float(_env("processing_delay", 1.0)),
        help="seconds before an accepted request is processed (default 1.0)",
    )
    parser.add_argument(
        "--processing-delay-per-mb",
        type=float,
        default=float(_env("processing_delay_per_mb", 0.0)),
        help="extra processing delay per MB of the uploaded file (default 0)",
    )
    parser.add_argument(
        "--rate-limit-per-second",
        type=float,
        default=float(_env("rate_limit_per_second", DEFAULT_RATE_LIMIT_PER_SECOND)),
        help="calls in any sliding second per company (every credential) before 429 (default 3; 0 = off)",
    )
    parser.add_argument(
        "--rate-limit-per-day",
        type=int,
        default=int(_env("rate_limit_per_day", DEFAULT_RATE_LIMIT_PER_DAY)),
        help="calls per UTC day per company (all credentials) before 429 (default 10000; 0 = unlimited)",
    )
    parser.add_argument(
        "--log-level", default=_env("log_level", "INFO"), help="log level of stderr logging (default INFO)"
    )


def add_emulator_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``emulator`` on the ``gong-provider`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "emulator",
        help="run the local Gong CRM API emulator",
        description="Run a local, strict emulator of Gong's /v2/crm API (state in SQLite under --data-dir).",
    )
    add_emulator_arguments(parser)
    parser.set_defaults(handler=run_emulator)
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="gong-emulator-"))
    for name in RUNTIME_SETTINGS:
        if getattr(args, name) < 0:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 0")
    return EmulatorConfig(
        data_dir=data_dir,
        host=args.host,
        port=args.port,
        access_key=args.access_key,
        access_key_secret=args.access_key_secret,
        token=args.token,
        integration_id=None if args.no_integration else args.integration_id,
        integration_name=args.integration_name,
        settings=EmulatorSettings(**{name: getattr(args, name) for name in RUNTIME_SETTINGS}),
    )


def run_emulator(args: argparse.Namespace) -> int:
    from gong_provider.emulator.server import serve

    logging.basicConfig(
        level=str(args.log_level).upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = config_from_args(args)
    try:
        asyncio.run(serve(config))
    except OSError as error:  # the port is taken, or the host is not an address of this machine
        print(
            f"gong-provider emulator: cannot listen on {config.host}:{config.port}: "
            f"{error.strerror or error} (choose another --port, or --port 0 for a free one)",
            file=sys.stderr,
        )
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gong_provider.emulator", description="Gong CRM API emulator"
    )
    add_emulator_arguments(parser)
    return run_emulator(parser.parse_args(argv))
