"""Where simulations run in parallel: a Dask cluster, local by default, behind a plain Executor.

Why Dask and why an Executor: replications, sweep points and optimizer candidates are independent
tasks. ``dask.distributed`` runs them on worker processes of this machine (``LocalCluster``) or of a
cluster someone already runs (``--dask tcp://host:8786``), with the same code. The rest of botcap
sees only ``concurrent.futures.Executor`` (``Client.get_executor()``), so the runner, the sweep and
the optimizer take an executor and do not know which cluster is behind it; tests pass a local one.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager

from botcap.errors import BadInput

__all__ = ["dask_executor", "check_address"]

_ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx|ws|wss)://[^\s/]+(:\d{1,5})?/?$")
MAX_WORKERS = 1024


def check_address(address: str | None) -> None:
    """Reject a --dask value that is not a scheduler address (one line, exit 2)."""
    if address is not None and not _ADDRESS.match(address):
        raise BadInput(f"--dask: must be a Dask scheduler address such as tcp://127.0.0.1:8786 "
                       f"(got {address!r})")


@contextmanager
def dask_executor(*, workers: int = 2, address: str | None = None,
                  connect_timeout_s: float = 10.0) -> Iterator[Executor]:
    """An Executor on a Dask cluster: ``address`` (an existing scheduler) or a new local one.

    The local cluster has ``workers`` single-threaded worker processes (the simulation is pure
    Python: threads would share one GIL) and no dashboard; it is closed when the block ends.
    """
    check_address(address)
    if not 1 <= workers <= MAX_WORKERS:
        raise BadInput(f"--workers: must be in 1..{MAX_WORKERS} (got {workers})")
    from distributed import Client, LocalCluster

    for name in ("distributed", "distributed.worker", "distributed.scheduler", "distributed.nanny"):
        logging.getLogger(name).setLevel(logging.ERROR)  # no INFO chatter on the user's terminal
    # the scheduler's HTTP endpoint moves off a busy 8787 by itself: that is no news for the user
    warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
    if address is not None:
        try:
            client = Client(address, timeout=connect_timeout_s)
        except OSError as exc:
            raise BadInput(f"--dask: no Dask scheduler answers at {address} "
                           f"({exc.__class__.__name__})") from exc
        with client:
            yield client.get_executor(pure=False)
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1", silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client.get_executor(pure=False)
