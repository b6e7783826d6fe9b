"""Suite-wide settings (Hypothesis is derandomised under CI so that a run is repeatable) and the one
in-process ``botcap`` runner the folders share."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def botcap_in_process(capsys):
    """``botcap ARGS`` in this process through the real entry point: (exit code, stdout, stderr)."""
    from botcap.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
