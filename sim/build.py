"""Wire the components a scenario describes: instances, ingress, DB, Claude, MCP, Telegram, scheduler.

Kept apart from ``sim.engine`` so that the engine reads as "arrivals → platform → results" and this
module as the one place that maps scenario keys onto component parameters.
"""

from __future__ import annotations

import itertools

import simpy

from botcap.scenario import Scenario
from sim.ingress import Poller, Webhook
from sim.instance import Node
from sim.resources import Gauge

__all__ = ["Platform", "build_platform", "new_counters"]


def new_counters(models) -> dict:
    """The counters every component adds to (plain data: summed, snapshotted and subtracted)."""
    return {
        "claude": {"calls": 0, "http_429": 0, "http_529": 0, "retries": 0, "breaker_open_s": 0.0,
                   "tokens": {m: {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0}
                              for m in models}},
        "db": {"acquire_timeouts": 0, "too_many_connections": 0},
        "digests": {"duplicate_sends": 0},
        "telegram": {"http_429": 0},
        "mcp": {"calls": 0, "failures": 0, "breaker_open_s": 0.0},
    }


class Platform:
    """Everything that exists during one run; components add to ``counters`` and own ``Gauge``s."""

    def __init__(self, env: simpy.Environment, scenario: Scenario):
        self.env, self.scenario = env, scenario
        self.counters = new_counters(scenario.platform.claude.models)
        self.requests: list = []
        self.nodes: list[Node] = []
        self.ingress = None
        self.gauges: list[Gauge] = []
        self.digest_plan: dict = {"scheduled": 0, "moved": 0, "moved_by_s_mean": 0.0, "max_per_slot": 0}
        self._ids = itertools.count()
        self.finishers: list = []  # callables run at the end (e.g. close the breakers' open-time integrals)

    def next_id(self) -> int:
        return next(self._ids)

    def resource_groups(self) -> dict[str, list[Gauge]]:
        groups: dict[str, list[Gauge]] = {}
        for g in self.gauges:
            groups.setdefault(g.name, []).append(g)
        return groups

    def finish(self) -> None:
        """Close what integrates over time (e.g. breaker open time) at the end of the run."""
        for f in self.finishers:
            f()

    def final_counters(self) -> dict:
        """Counters over the whole run (not warm-up-cut): peaks and the digest plan, by section."""
        server = [g for g in self.gauges if g.name == "db_server"]
        return {"db": {"peak_server_connections": int(sum(g.peak_in_use for g in server))},
                "digests": dict(self.digest_plan)}


def build_platform(env: simpy.Environment, scenario: Scenario, seed: int, plans: dict,
                   horizon_s: float) -> Platform:
    p = Platform(env, scenario)
    pf = scenario.platform
    n_instances = pf.instances
    for i in range(n_instances):
        node = Node(env, i, handlers=pf.handlers_per_instance, cores=pf.cpu_cores_per_instance)
        p.nodes.append(node)
        p.gauges += [node.handlers, node.cpu]
    rtt = pf.network_rtt_s.telegram
    if pf.mode == "webhook":
        tg = pf.telegram
        p.ingress = Webhook(env, p.nodes, max_connections=tg.webhook_max_connections, rtt_s=rtt,
                            in_background=tg.webhook_handle_in_background, timeout_s=tg.webhook_timeout_s)
        p.gauges.append(p.ingress.connections)
    else:
        p.ingress = Poller(env, p.nodes[0], batch_size=pf.polling.batch_size, rtt_s=rtt)
    return p
