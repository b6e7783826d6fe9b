"""The hostile-input suite's fixture: ``cli`` runs botcap in-process (see hostile_helpers.Cli)."""

from __future__ import annotations

import pytest
from hostile_helpers import Cli


@pytest.fixture
def cli(capsys) -> Cli:
    return Cli(capsys)
