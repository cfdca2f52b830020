"""Start the emulator as a child process (``python -m gong_provider.emulator``) for tests and demos."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.config import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_INTEGRATION_ID,
    DEFAULT_TOKEN,
)
from gong_provider.emulator.server import LISTENING_PREFIX, READY_SUFFIX_LINE

STOP_TIMEOUT_SECONDS = 15.0


class EmulatorProcess:
    """A running emulator on 127.0.0.1; a context manager that stops it (and removes its temp dir).

    ``options`` become command-line flags: ``processing_delay=0`` -> ``--processing-delay 0``,
    ``no_integration=True`` -> ``--no-integration``. With ``no_integration``, ``integration_id`` is 0.
    """

    def __init__(self, data_dir: str | Path | None = None, *, port: int = 0, **options: Any) -> None:
        self._owns_data_dir = data_dir is None
        self.data_dir = (
            Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="gong-emulator-"))
        )
        self.port = port
        self.options = dict(options)
        self.host = str(self.options.pop("host", "127.0.0.1"))
        self.access_key = str(self.options.get("access_key", DEFAULT_ACCESS_KEY))
        self.access_key_secret = str(self.options.get("access_key_secret", DEFAULT_ACCESS_KEY_SECRET))
        self.token = str(self.options.get("token", DEFAULT_TOKEN))
        self.integration_id = (
            0
            if self.options.get("no_integration")
            else int(self.options.get("integration_id", DEFAULT_INTEGRATION_ID))
        )
        self.url = ""
        self.output: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._log: IO[bytes] | None = None
        self._client: EmulatorClient | None = None
        self._last_returncode: int | None = None

    # ------------------------------------------------------------------ life cycle

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "gong_provider.emulator", "--host", self.host, "--port", str(self.port)]
        args += ["--data-dir", str(self.data_dir)]
        for name, value in self.options.items():
            flag = "--" + name.replace("_", "-")
            if value is True:
                args.append(flag)
            elif value is not False and value is not None:
                args += [flag, str(value)]
        return args

    @property
    def log_path(self) -> Path:
        """The emulator's stderr log."""
        return self.data_dir / "emulator.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, timeout: float = 30) -> EmulatorProcess:
        """Start and wait (at most ``timeout`` seconds) for the listening line."""
        if self.running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {name: value for name, value in os.environ.items() if not name.startswith("GONG_EMULATOR_")}
        env["PYTHONUNBUFFERED"] = "1"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._lines = queue.Queue()
        self._process = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=self._log, env=env, text=True, bufsize=1
        )
        self._reader = threading.Thread(target=self._read_stdout, name="gong-emulator-stdout", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise RuntimeError(f"The emulator did not start within {timeout} s; see {self.log_path}")
            try:
                line = self._lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                code = self._process.wait()
                self.stop()
                raise RuntimeError(f"The emulator exited with code {code} at start: {self._log_tail()}")
            if line.startswith(LISTENING_PREFIX):
                self.url = line[len(LISTENING_PREFIX) :].strip()
                self.port = int(self.url.rsplit(":", 1)[1])
            elif self.url and line.startswith(READY_SUFFIX_LINE):
                return self

    def stop(self) -> None:
        """SIGTERM, a bounded wait, then SIGKILL."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=STOP_TIMEOUT_SECONDS)
            self._last_returncode = process.returncode
            if process.stdout is not None:
                process.stdout.close()
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def returncode(self) -> int | None:
        """Exit code of the last process once stopped."""
        return self._last_returncode

    def restart(self) -> None:
        """Stop and start again with the same data dir and port (state survives)."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop, and remove the data dir if this object created it."""
        self.stop()
        if self._owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ helpers

    @property
    def client(self) -> EmulatorClient:
        if self._client is None or self._client.base_url != self.url:
            self._client = EmulatorClient(self.url)
        return self._client

    @property
    def basic_auth(self) -> tuple[str, str]:
        """``(access key, secret)`` for ``requests``' ``auth=``."""
        return self.access_key, self.access_key_secret

    def connection_json(self, conn_type: str = "gong") -> str:
        """JSON for ``AIRFLOW_CONN_GONG_DEFAULT`` (the JSON form keeps the http:// host)."""
        return json.dumps(
            {
                "conn_type": conn_type,
                "host": self.url,
                "login": self.access_key,
                "password": self.access_key_secret,
            }
        )

    def _read_stdout(self) -> None:
        process = self._process
        assert process is not None
        assert process.stdout is not None
        try:
            for line in process.stdout:
                self.output.append(line.rstrip("\n"))
                self._lines.put(line)
        except ValueError:  # stdout closed by stop()
            pass
        finally:
            self._lines.put(None)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""
