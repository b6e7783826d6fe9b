"""Child processes of the stack: start, wait for the one JSON "ready" line, drain, terminate.

Every child (the two fakes, the bots, the scheduler) prints one JSON line on stdout when it is ready.
A thread per child reads that line and then keeps draining stdout into the child's log file, so
a chatty child can never block on a full pipe. Children get their own session (a Ctrl-C on the
terminal reaches only the supervisor, which then stops them in order) and PR_SET_PDEATHSIG, so
that even a SIGKILLed supervisor leaves no orphans.
"""

from __future__ import annotations

import ctypes
import json
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

from botcap.errors import BadInput


def _pdeathsig() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)
    except OSError:
        pass


class Child:
    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict | None = None):
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True, preexec_fn=_pdeathsig)
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._drain, name=f"drain-{name}", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _drain(self) -> None:
        for line in self.proc.stdout:
            if line.startswith(b"{"):
                self._lines.put(line)
            self._log.write(line)
        self._lines.put(None)

    def ready(self, timeout_s: float) -> dict:
        """The child's next ready line (a JSON object); BadInput naming the child and its log otherwise."""
        try:
            line = self._lines.get(timeout=timeout_s)
        except queue.Empty:
            line = None
            reason = f"not ready after {timeout_s:.0f} s"
        else:
            reason = f"exited with code {self.proc.wait(5)}" if line is None else "printed no JSON"
        if line:
            try:
                return json.loads(line)
            except ValueError:
                pass
        raise BadInput(f"{self.name}: {reason}; see {self.log_path}: {self.tail()}")

    def tail(self, chars: int = 400) -> str:
        try:
            self._log.flush()
            return self.log_path.read_text(errors="replace")[-chars:].replace("\n", " | ")
        except OSError:
            return ""

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> int:
        try:
            return self.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)
        finally:
            self._log.close()


def stop_all(children: list[Child], grace_s: float = 8.0) -> None:
    """SIGTERM every child, wait up to ``grace_s`` in total, SIGKILL the rest."""
    for c in children:
        c.terminate()
    deadline = time.monotonic() + grace_s
    for c in children:
        c.wait_or_kill(deadline)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:   # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False
