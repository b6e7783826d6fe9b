"""One reduced report (``botcap report --quick``) built from the current code, shared by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from botcap.cli import main


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory) -> Path:
    """The folder of a quick report: building it is itself the check that the report still builds."""
    base = tmp_path_factory.mktemp("report")
    out = base / "quick"
    argv = ["report", "--quick", "--workers", "2", "--out", str(out), "--cache", str(base / "sweeps")]
    assert main(argv) == 0
    assert (out / "index.html").is_file() and (out / "report.json").is_file()
    return out


@pytest.fixture(scope="session")
def quick_json(quick_report) -> dict:
    return json.loads((quick_report / "report.json").read_text(encoding="utf-8"))
