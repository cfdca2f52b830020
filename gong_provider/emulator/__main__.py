"""``python -m gong_provider.emulator``."""

from __future__ import annotations

import sys

from gong_provider.emulator.cli import main

sys.exit(main())
