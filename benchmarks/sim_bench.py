"""How fast is the SimPy platform model? Figures for the issue's performance targets (not a test).

    .venv/bin/python benchmarks/sim_bench.py            # all cases (~2-3 min on a free core)
    .venv/bin/python benchmarks/sim_bench.py --quick    # skip the 100K-DAU day
    .venv/bin/python benchmarks/sim_bench.py --json     # one JSON object on stdout

Cases, each in a fresh child process so that its wall time and peak memory (ru_maxrss) are its own:
  baseline   a bare SimPy M/M/c: `with res.request() as r: yield r; yield env.timeout(s)` per customer
  mmc        the engine on sim/scenarios/mmc.yaml, the same number of customers
  default    one simulated day of the embedded default scenario (10K DAU), one replication
  dau100k    the same day at 100K DAU
  win10k/win100k (--windows) the same busy hour at 10K and 100K DAU (issue 12: flat per-request cost)
  stream<DAU> (--stream 10k,100k,1m) a whole day on the platform grown with the load (``grown``), rows
             streamed to parquet during the run and summarised from the file a few columns at a time
Targets (issue 2): default day <= 10 s and <= 3x the baseline's cost per request; 100K DAU day
<= 100 s and <= 2 GB peak. Wall time counts whatever else the machine runs, so CPU time of the case's
process is printed too, and the per-request cost (simulate() only, in CPU µs) is compared with the
baseline measured in the same invocation. Wall and CPU exclude interpreter start and imports.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MMC_RATE_PER_S, MMC_SERVERS, MMC_HOURS = 3.2, 4, 12.0  # rho = 0.8, ~138K customers


def bare_mmc(rate_per_s: float, servers: int, horizon_s: float, seed: int = 1) -> int:
    """The cheapest honest SimPy M/M/c: one process per customer, a Resource, exponential times."""
    import numpy as np
    import simpy

    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    res = simpy.Resource(env, capacity=servers)
    served = [0]

    def customer(service_s: float):
        with res.request() as r:
            yield r
            yield env.timeout(service_s)
        served[0] += 1

    def source():
        gaps = rng.exponential(1 / rate_per_s, int(rate_per_s * horizon_s * 1.1) + 100)
        services = rng.exponential(1.0, gaps.size)
        for gap, s in zip(gaps.tolist(), services.tolist(), strict=True):
            yield env.timeout(gap)
            env.process(customer(s))

    env.process(source())
    env.run(until=horizon_s)
    return served[0]


def _case(name: str) -> dict:
    """Run one case in this (child) process; return its figures (imports excluded from the timings)."""
    from botcap.sim.engine import simulate
    from botcap.sim.runner import Replication, SimResult
    from botcap.sim.summary import summarize

    from botcap.scenario import load_scenario

    t0, c0 = time.perf_counter(), time.process_time()
    if name == "baseline":
        n = bare_mmc(MMC_RATE_PER_S, MMC_SERVERS, MMC_HOURS * 3600)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return {"requests": n, "wall_s": wall, "simulate_s": wall, "cpu_s": cpu, "simulate_cpu_s": cpu,
                "simulate_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if name == "mmc":
        sc = load_scenario(ROOT / "sim" / "scenarios" / "mmc.yaml")
        hours = MMC_HOURS
    elif name.startswith("win"):  # the same busy hour (18:00-19:00 after 10 min warm-up) at 10K / 100K DAU
        dau = 10_000 if name == "win10k" else 100_000
        sc = load_scenario(None, [f"workload.dau={dau}", "horizon.start=17:50"])
        hours = 70 / 60
    elif name.startswith(("stream", "grown")):  # a whole day, grown platform; stream*: rows to parquet
        sc = load_scenario(None, grown(_dau(name)))
        hours = None
    else:
        sc = load_scenario(None, ["workload.dau=100000"] if name == "dau100k" else [])
        hours = None
    t1, c1 = time.perf_counter(), time.process_time()
    if name.startswith("stream"):  # summarised from the file a few columns at a time (botcap.sim.summary)
        import tempfile

        from botcap.sim.rowstream import RowFile

        with tempfile.TemporaryDirectory() as tmp:
            raw = simulate(sc, sc.seed, hours=hours, rows_to=Path(tmp) / "rows.parquet")
            t2, c2 = time.perf_counter(), time.process_time()
            sim_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the summary
            n = RowFile(raw.rows_file).num_rows
            rep = Replication(0, sc.seed, None, raw.simulated_s, raw.warmup_s, raw.counters, raw.timeseries,
                              rows_file=raw.rows_file)
            summarize(SimResult(sc, sc.seed, [rep]))
    else:
        raw = simulate(sc, sc.seed, hours=hours)
        t2, c2 = time.perf_counter(), time.process_time()
        sim_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        n = len(raw.requests)
        keep = raw.requests["arrival_s"] >= raw.warmup_s
        rows = raw.requests if keep.all() else raw.requests[keep]  # no copy of a whole day's table
        rep = Replication(0, sc.seed, rows, raw.simulated_s, raw.warmup_s, raw.counters, raw.timeseries)
        summarize(SimResult(sc, sc.seed, [rep]))
    t3, c3 = time.perf_counter(), time.process_time()
    return {"requests": n, "wall_s": t3 - t0, "simulate_s": t2 - t1, "summary_s": t3 - t2,
            "cpu_s": c3 - c0, "simulate_cpu_s": c2 - c1, "simulate_peak_rss_mb": sim_peak_mb}


def grown(dau: int) -> list[str]:
    """The default platform grown with the load (x = dau / 10K): x times the instances, so that each
    process carries what it does at 10K DAU, and x times the bot-wide limits (PostgreSQL connections,
    Claude rate limits, Telegram's send rate); digests from one separate worker with x times the
    concurrency (on every instance, each digest would cost one lock query per instance: 500 at 1M)."""
    x = dau / 10_000
    return [f"workload.dau={dau}", f"platform.instances={max(1, round(5 * x))}",
            f"platform.db.max_connections={max(100, round(300 * x))}",
            f"platform.claude.rate_limits.rpm={max(4000, round(4000 * x))}",
            f"platform.claude.rate_limits.itpm={max(2_000_000, round(2_000_000 * x))}",
            f"platform.claude.rate_limits.otpm={max(400_000, round(400_000 * x))}",
            f"platform.telegram.send_rate_per_s={max(30.0, 30.0 * x):g}",
            "scheduler.placement=separate", f"scheduler.concurrency={max(20, round(20 * x))}"]


def _dau(name: str) -> int:
    """stream100k -> 100000, stream1m -> 1000000 (grown100k: the same, in memory)"""
    digits = name.removeprefix("stream").removeprefix("grown")
    return int(digits[:-1]) * (1000 if digits.endswith("k") else 1_000_000)


def _child(name: str, queue) -> None:
    out = _case(name)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    out["loadavg_1m_after"] = os.getloadavg()[0]  # the machine is shared: how busy it was
    queue.put(out)


def measure(name: str) -> dict:
    ctx = mp.get_context("spawn")  # a fresh interpreter: peak memory and imports are the case's own
    queue = ctx.Queue()
    p = ctx.Process(target=_child, args=(name, queue))
    p.start()
    out = queue.get()
    p.join()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 100K-DAU day")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--windows", action="store_true",
                    help="also the same busy hour at 10K and 100K DAU: does the cost per request grow with "
                         "load inside the simulation, or only over a whole day (memory, GC, summary)?")
    ap.add_argument("--stream", default="", metavar="DAU,…",
                    help="also whole days with rows streamed to parquet at these DAU (e.g. 100k,1m): "
                         "only these cases (and the baseline) run")
    ap.add_argument("--in-memory", action="store_true",
                    help="with --stream: each day also without streaming (grown<DAU>), to compare memory")
    args = ap.parse_args()
    cases = ["baseline", "mmc", "default"] + ([] if args.quick else ["dau100k"])
    cases += ["win10k", "win100k"] if args.windows else []
    if args.stream:
        levels = [d.strip().lower() for d in args.stream.split(",") if d.strip()]
        hows = ("stream", "grown") if args.in_memory else ("stream",)
        cases = ["baseline"] + [f"{how}{d}" for d in levels for how in hows]
    res = {}
    for name in cases:
        print(f"running {name}…", file=sys.stderr, flush=True)
        res[name] = measure(name)
    base_us = res["baseline"]["simulate_cpu_s"] / res["baseline"]["requests"] * 1e6
    for r in res.values():
        # CPU seconds, not wall: on a shared machine wall time also counts other people's work
        r["us_per_request"] = r["simulate_cpu_s"] / max(r["requests"], 1) * 1e6
        r["vs_baseline"] = r["us_per_request"] / base_us
    verdict = {}
    if "default" in res:
        verdict["default_day_wall_le_10s"] = res["default"]["wall_s"] <= 10
        verdict["default_day_cpu_le_10s"] = res["default"]["cpu_s"] <= 10
        verdict["default_per_request_le_3x_baseline"] = res["default"]["vs_baseline"] <= 3
    if "stream1m" in res:  # issue 12
        verdict["dau1m_day_wall_le_15min"] = res["stream1m"]["wall_s"] <= 900
        verdict["dau1m_day_peak_le_4gb"] = res["stream1m"]["peak_rss_mb"] <= 4096
    if "dau100k" in res:
        verdict["dau100k_wall_le_100s"] = res["dau100k"]["wall_s"] <= 100
        verdict["dau100k_cpu_le_100s"] = res["dau100k"]["cpu_s"] <= 100
        verdict["dau100k_peak_le_2gb"] = res["dau100k"]["peak_rss_mb"] <= 2048
    if "win100k" in res:  # issue 12: the per-request cost flat across scale (same window, 10x the load)
        verdict["window_100k_vs_10k_per_request_le_1.2x"] = \
            res["win100k"]["us_per_request"] <= 1.2 * res["win10k"]["us_per_request"]
    if args.json:
        print(json.dumps({"cases": res, "targets_met": verdict}, indent=2))
        return 0
    print(f"{'case':10} {'requests':>10} {'wall s':>8} {'cpu s':>8} {'sim cpu s':>9} {'µs/req':>8} "
          f"{'x base':>7} {'peak MB':>8}")
    for name, r in res.items():
        print(f"{name:10} {r['requests']:>10,} {r['wall_s']:>8.2f} {r['cpu_s']:>8.2f} "
              f"{r['simulate_cpu_s']:>9.2f} {r['us_per_request']:>8.1f} {r['vs_baseline']:>7.2f} "
              f"{r['peak_rss_mb']:>8.0f}")
    for key, ok in verdict.items():
        print(f"{'ok  ' if ok else 'MISS'} {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
