"""docker-compose.yaml as the tests read it: its path, Compose's variable interpolation, a service's
environment."""

from __future__ import annotations

import re
from typing import Any

from tests.support.paths import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?[-?](?P<default>[^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose's ``${NAME:-default}`` with an empty environment: the default (``$$`` is a ``$``)."""
    return _VARIABLE.sub(lambda m: m.group("default") or "", value).replace("$$", "$")


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: interpolate(str(value)) for key, value in env.items()}
