"""``CpuMeter.between``: a process's CPU between two moments, read off the samples (per load level in
run.json). A real child process burns CPU for a known stretch and then sleeps; the figures for the busy
and the idle stretch must tell them apart; a second one, watched by nobody, is other work while it
burns."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from botcap.loadtest.harness.live import CpuMeter

BURN = ("import sys, time\nt = time.process_time()\nwhile time.process_time() - t < {busy}: pass\n"
        "open(sys.argv[1], 'w').write(repr(time.time()))\ntime.sleep({idle})\n")


def test_cpu_between_two_moments_splits_a_busy_stretch_from_an_idle_one(tmp_path):
    busy_s, idle_s = 0.8, 1.2
    mark = tmp_path / "busy_ended_at"
    proc = subprocess.Popen([sys.executable, "-c", BURN.format(busy=busy_s, idle=idle_s), str(mark)])
    # another job on the machine: burns as long, watched by nobody (other_work_cores)
    stranger = subprocess.Popen([sys.executable, "-c", BURN.format(busy=busy_s, idle=0),
                                 str(tmp_path / "stranger")])
    try:
        meter = CpuMeter()
        meter.watch({"burner": proc.pid, "me": os.getpid()})
        meter.reset()
        start = time.time()
        while proc.poll() is None:
            time.sleep(0.05)
            meter.sample()
        end = time.time()
    finally:
        for p in (proc, stranger):
            p.kill()
            p.wait()
    total = meter.last["burner"] - meter.first["burner"]   # the busy stretch, start-up and exit
    assert total == pytest.approx(busy_s, abs=0.15)
    stopped = float(mark.read_text())                       # the child's own end of its busy stretch
    whole = meter.between(start, end)
    assert whole["cpu_s"]["burner"] == pytest.approx(total, abs=0.02)
    assert 0 < whole["host_busy_cores"] <= meter.summary()["cores"]
    busy = meter.between(start, stopped)["cpu_s"]["burner"]
    idle = meter.between(stopped + 0.15, stopped + idle_s - 0.3)["cpu_s"]["burner"]
    assert busy == pytest.approx(total, abs=0.1) and idle == pytest.approx(0.0, abs=0.02)
    # outside the samples: clipped to them; an empty or reversed span has nothing
    assert meter.between(start - 100, end + 100)["cpu_s"]["burner"] == pytest.approx(total, abs=0.02)
    assert meter.between(end, start) == {"cpu_s": {}, "host_busy_cores": None, "other_work_cores": None}
    # the stranger's CPU is other work while it burns, and nothing is once it has gone
    assert meter.between(start, stopped)["other_work_cores"] >= 0.5
    assert meter.between(stopped + 0.3, stopped + idle_s - 0.3)["other_work_cores"] <= 0.3
    assert meter.summary()["other_work_cores"] >= 0.2


def test_a_process_watched_under_two_names_is_counted_once():
    """The staging stack's launcher is its bot instance when there is one: one PID, two names."""
    meter = CpuMeter()
    meter.watch({"launcher": os.getpid()})
    meter.watch({"bot-1": os.getpid(), "me": os.getpid()})
    assert list(meter.procs) == ["me"]
    meter.watch({"bot-1": os.getpid()})
    meter.reset()
    t = time.process_time()
    while time.process_time() - t < 0.3:
        pass
    meter.sample()
    summary = meter.summary()
    assert list(summary["processes"]) == ["bot-1"]
    assert summary["processes"]["bot-1"]["cpu_s"] == pytest.approx(0.3, abs=0.1)
