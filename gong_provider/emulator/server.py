"""Run the emulator until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import TextIO

from aiohttp import web

from gong_provider.emulator.app import Emulator, build_app
from gong_provider.emulator.config import EmulatorConfig

log = logging.getLogger(__name__)

LISTENING_PREFIX = "Gong CRM API emulator listening on "
"""First line of stdout; EmulatorProcess waits for it."""
READY_SUFFIX_LINE = "Stop with Ctrl+C"
"""Last line of the start-up banner (after the credentials)."""


async def serve(config: EmulatorConfig, out: TextIO = sys.stdout) -> None:
    """Start the server, print where it listens and what it accepts, stop cleanly on a signal."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # before the listening line: callers may signal at once
        loop.add_signal_handler(signum, stop.set)
    emulator = Emulator(config)
    runner = web.AppRunner(build_app(emulator), access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://{config.host}:{port}"
    print(LISTENING_PREFIX + url, file=out, flush=True)
    integration = "none (--no-integration)" if config.integration_id is None else config.integration_id
    print(
        f"  access key:        {config.access_key}\n"
        f"  access key secret: {config.access_key_secret}\n"
        f"  bearer token:      {config.token}\n"
        f"  integration id:    {integration}\n"
        f"  data dir:          {config.data_dir}\n"
        f"  inspection:        {url}/_emulator/health\n"
        f"{READY_SUFFIX_LINE} (SIGINT) or SIGTERM.",
        file=out,
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        log.info("Stopping the Gong CRM API emulator")
        await runner.cleanup()
    print("Gong CRM API emulator stopped", file=out, flush=True)
