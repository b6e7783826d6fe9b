"""Timings of the cost model: `botcap cost` on the default (< 2 s) and 10,000 Monte Carlo draws (< 5 s).

Wall time on a shared machine swings with other people's load, so CPU time (user + sys of the
process and its children) is printed next to it: CPU time is what the command itself costs.

    .venv/bin/python benchmarks/cost_bench.py [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

TARGET_CLI_S = 2.0
TARGET_MC_S = 5.0


def _cli_once() -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "botcap.cli", "cost", "--json"], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _mc_once(draws: int) -> tuple[float, float]:
    from botcap.costmodel import uncertainty as U
    from botcap.costmodel.prices import load_price_book
    from botcap.costmodel.unit import build

    from botcap.scenario import load_scenario

    s = load_scenario()
    api = sorted({m.api_model for m in s.platform.claude.models.values()})
    built = build(s, load_price_book(s.costs.prices, api))
    factors = U.factors_for(s, built)
    t0, c0 = time.perf_counter(), time.process_time()
    U.monte_carlo(built, factors, draws, seed=s.seed)
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--draws", type=int, default=10_000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    cli = [_cli_once() for _ in range(a.repeat)]
    mc = [_mc_once(a.draws) for _ in range(a.repeat)]
    out = {"cli_default_wall_s": min(w for w, _ in cli), "cli_default_cpu_s": min(c for _, c in cli),
           "cli_target_s": TARGET_CLI_S,
           "monte_carlo_draws": a.draws, "monte_carlo_wall_s": min(w for w, _ in mc),
           "monte_carlo_cpu_s": min(c for _, c in mc), "monte_carlo_target_s": TARGET_MC_S,
           "load_average_1m": os.getloadavg()[0], "cpus": os.cpu_count()}
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"botcap cost (default, --json): best of {a.repeat}: wall {out['cli_default_wall_s']:.2f} s, "
              f"CPU {out['cli_default_cpu_s']:.2f} s (target < {TARGET_CLI_S} s)")
        print(f"Monte Carlo {a.draws:,} draws: best of {a.repeat}: wall {out['monte_carlo_wall_s']:.3f} s, "
              f"CPU {out['monte_carlo_cpu_s']:.3f} s (target < {TARGET_MC_S} s)")
        print(f"machine: {out['cpus']} CPUs, load average {out['load_average_1m']:.1f} "
              "(shared: wall times vary)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
