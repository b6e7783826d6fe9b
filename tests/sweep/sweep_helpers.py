"""Helpers of the sweep tests: the M/M/c scenario's path and the CLI run as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MMC = str(ROOT / "sim" / "scenarios" / "mmc.yaml")


def botcap(*args: str, timeout_s: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "botcap.cli", *args], capture_output=True, text=True,
                          timeout=timeout_s, cwd=ROOT)
