"""The notebooks are executed, not just shipped: each runs top to bottom in a real kernel.

The kernels are separate processes, so the notebooks run two at a time (this machine and CI's have
two cores; most of a notebook's time is its kernel's CPU): about 60 s instead of 105 s in a row.
Each notebook still has its own test, judging its own executed copy.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
PARALLEL_KERNELS = 2


def _execute(path: Path, workdir: Path):
    """The executed notebook, or the exception its execution raised (judged by its own test)."""
    nb = nbformat.read(path, as_version=4)
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(workdir)}}).execute()
    except Exception as e:  # noqa: BLE001 - the test of that notebook reports it
        return e
    return nb


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> dict[str, object]:
    with ThreadPoolExecutor(PARALLEL_KERNELS) as pool:
        futures = {p.name: pool.submit(_execute, p, tmp_path_factory.mktemp(p.stem)) for p in NOTEBOOKS}
        return {name: f.result() for name, f in futures.items()}


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path, executed):
    nb = executed[path.name]
    if isinstance(nb, Exception):
        raise nb
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # the what-if tables and plots were produced
    assert any("text/html" in o.get("data", {}) for o in outputs)
    assert any("image/png" in o.get("data", {}) for o in outputs)
