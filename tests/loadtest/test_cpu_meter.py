"""``CpuMeter.between``: a process's CPU between two moments, read off the samples (per load level in
run.json). A real child process burns CPU for a known stretch and then sleeps; the figures for the busy
and the idle stretch must tell them apart."""

from __future__ import annotations

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
    try:
        meter = CpuMeter()
        meter.watch({"burner": proc.pid})
        meter.reset()
        start = time.time()
        while proc.poll() is None:
            time.sleep(0.05)
            meter.sample()
        end = time.time()
    finally:
        proc.kill()
        proc.wait()
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
    assert meter.between(end, start) == {"cpu_s": {}, "host_busy_cores": None}
