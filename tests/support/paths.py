"""Where the checkout is, and the one way a test's Python subprocess imports ``tests`` as pytest does."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def importing_tests(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the checkout first on PYTHONPATH, so a ``python -c`` script can ``import tests.support``
    (pytest puts the checkout on ``sys.path`` of its own process only)."""
    paths = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}
