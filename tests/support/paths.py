"""Where the checkout is, and the one way a test's Python subprocess imports ``tests`` as pytest does."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def importing_tests(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the checkout first on PYTHONPATH, so a ``python -c`` script can ``import tests.support``
    (pytest puts the checkout on ``sys.path`` of its own process only)."""
    paths = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


def clean_environment() -> dict[str, str]:
    """This process's environment without any Airflow or Gong setting, for an Airflow of a test's own.

    Drops every ``AIRFLOW*`` variable (configuration, connections, and the ``AIRFLOW_CTX_*`` task
    context that an in-process ``dag.test()`` leaves behind) and every ``GONG_*`` one.
    """
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "GONG_"))}


def uv() -> str | None:
    """The uv that ``make install`` puts beside the interpreter (``.venv/bin``), else the checkout's
    ``.venv/bin/uv`` (``make test-latest`` and ``make test-floor`` run from other venvs), else PATH's."""
    for folder in (Path(sys.executable).parent, REPO_ROOT / ".venv" / "bin"):
        found = shutil.which("uv", path=str(folder))
        if found:
            return found
    return shutil.which("uv")
