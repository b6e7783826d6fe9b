"""Wire the components a scenario describes: instances, ingress, DB, Claude, MCP, Telegram, scheduler.

Kept apart from ``botcap.sim.engine`` so that the engine reads as "arrivals → platform → results" and this
module as the one place that maps scenario keys onto component parameters.
"""

from __future__ import annotations

import itertools
import math

import simpy
from botcap.sim.claude import ClaudeApi, ClaudeClient
from botcap.sim.db import DbPool, DbServer
from botcap.sim.ingress import Poller, Webhook
from botcap.sim.instance import Node
from botcap.sim.mcp import McpClient
from botcap.sim.resources import Gauge
from botcap.sim.scheduler import DigestBook, plan_digests, run_digests
from botcap.sim.telegram import TelegramApi
from botcap.sim.workload import DAY_S, draws, rng_for

from botcap.scenario import Scenario, hhmm_to_s

__all__ = ["BuiltPlatform", "build_platform", "new_counters"]


def new_counters(models) -> dict:
    """The counters every component adds to (plain data: summed, snapshotted and subtracted)."""
    return {
        "claude": {"calls": 0, "http_429": 0, "http_529": 0, "retries": 0, "breaker_open_s": 0.0,
                   "tokens": {m: {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0}
                              for m in models},
                   # of attempts the client gave up on (timeouts): billed, never delivered
                   "wasted_tokens": {m: {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0}
                                     for m in models}},
        "db": {"acquire_timeouts": 0, "too_many_connections": 0},
        "digests": {"scheduled": 0, "moved": 0, "moved_by_s_total": 0.0, "duplicate_sends": 0,
                    "lock_retries": 0},
        "telegram": {"http_429": 0},
        "mcp": {"calls": 0, "failures": 0, "breaker_open_s": 0.0},
    }


class BuiltPlatform:
    """The platform as built for one run (the scenario's ``Platform`` is its plan): everything that exists
    during the run; components add to ``counters`` and own ``Gauge``s."""

    def __init__(self, env: simpy.Environment, scenario: Scenario):
        self.env, self.scenario = env, scenario
        self.counters = new_counters(scenario.platform.claude.models)
        self.requests: list = []
        self.nodes: list[Node] = []
        self.workers: list[Node] = []  # the separate scheduler worker, when there is one
        self.ingress = None
        self.gauges: list[Gauge] = []
        self.digest_plan: dict = {"max_per_slot": 0}
        self.digest_book: DigestBook | None = None  # what became of each digest (scheduler.DigestBook)
        self.warmup_s = 0.0
        self.next_id = itertools.count().__next__  # the next request id (a C call: once per request)

    def settle(self) -> None:
        """Apply what the components keep lazily (see ``Node.settle``): call before reading their gauges."""
        for n in self.nodes:
            n.settle()

    def resource_groups(self) -> dict[str, list[Gauge]]:
        groups: dict[str, list[Gauge]] = {}
        for g in self.gauges:
            groups.setdefault(g.name, []).append(g)
        return groups

    def final_counters(self) -> dict:
        """Counters over the whole run (not warm-up-cut): peaks and the digest plan, by section."""
        server = [g for g in self.gauges if g.name == "db_server"]
        digests = dict(self.digest_plan)
        if self.digest_book is not None:
            digests.update(self.digest_book.final(self.warmup_s))
        return {"db": {"peak_server_connections": int(sum(g.peak_in_use for g in server))},
                "digests": digests,
                "claude": breaker_time(self.nodes + self.workers, "claude", self.warmup_s, self.env.now),
                "mcp": breaker_time(self.nodes + self.workers, "mcp", self.warmup_s, self.env.now)}


def breaker_time(nodes, client: str, start_s: float, end_s: float) -> dict:
    """Breaker open time over [start_s, end_s] (failing fast, from opening to the end of the cool-down):
    ``breaker_open_s`` = wall clock during which at least one process's breaker is open (not summed over
    processes, not charged in full at opening), ``breaker_open_s_by_instance`` per process."""
    per, spans, openings = [], [], 0
    if not any(hasattr(getattr(n, client, None), "open_intervals_s") for n in nodes):
        return {}  # no such client in this run
    for n in nodes:
        c = getattr(n, client, None)
        clipped = [(max(a, start_s), min(b, end_s)) for a, b in getattr(c, "open_intervals_s", ())]
        clipped = [(a, b) for a, b in clipped if b > a]
        per.append(float(sum(b - a for a, b in clipped)))
        spans += clipped
        openings += len(clipped)
    union, reach = 0.0, -math.inf
    for a, b in sorted(spans):
        if b > reach:
            union += b - max(a, reach)
            reach = b
    return {"breaker_open_s": union, "breaker_open_s_by_instance": per, "breaker_openings": openings}


def _outages_s(scenario: Scenario, horizon_s: float) -> list[tuple[float, float]]:
    """Outage windows in simulated seconds (wall-clock windows repeated every day of the horizon)."""
    start_clock_s = hhmm_to_s(scenario.horizon.start)
    days = math.ceil((start_clock_s + horizon_s) / DAY_S) + 1
    out = []
    for o in scenario.platform.claude.faults.outages:
        for d in range(-1, days):
            a = d * DAY_S + hhmm_to_s(o.start) - start_clock_s
            if a + o.duration_s > 0 and a < horizon_s:
                out.append((a, a + o.duration_s))
    return sorted(out)


def build_platform(env: simpy.Environment, scenario: Scenario, seed: int, plans: dict,
                   horizon_s: float) -> BuiltPlatform:
    p = BuiltPlatform(env, scenario)
    pf, sch = scenario.platform, scenario.scheduler
    rtt = pf.network_rtt_s
    c = p.counters
    uses_db = any(k.db_queries for k in plans.values())
    uses_claude = any(k.model for k in plans.values())
    uses_mcp = any(k.mcp_calls for k in plans.values())
    uses_telegram = any(k.telegram_sends for k in plans.values())
    dplan = plan_digests(scenario, seed) if "digest" in plans else None
    in_instances = dplan is not None and sch.placement == "every_instance"
    if in_instances and sch.lock == "advisory":
        uses_db = True

    db_server = None
    if uses_db:
        db = pf.db
        db_server = DbServer(env, max_connections=db.max_connections, pooler=db.pooler,
                             pooler_server_connections=db.pooler_server_connections, rtt_s=rtt.db,
                             query_s=draws(db.query_s, rng_for(seed, "db")), counters=c["db"])
        p.gauges.append(db_server.connections)
    api = None
    if uses_claude:
        api = ClaudeApi(env, pf.claude, rtt_s=rtt.claude, outages_s=_outages_s(scenario, horizon_s),
                        rng=rng_for(seed, "claude"), counters=c["claude"])
    telegram = None
    if uses_telegram:
        telegram = TelegramApi(env, send_rate_per_s=pf.telegram.send_rate_per_s,
                               per_chat_rate_per_s=pf.telegram.per_chat_rate_per_s, rtt_s=rtt.telegram,
                               counters=c["telegram"], horizon_s=horizon_s)
        p.gauges.append(telegram.sends)

    def node(index: int, handlers: int | None, scheduler: int | None) -> Node:
        n = Node(env, index, handlers=handlers, cores=pf.cpu_cores_per_instance,
                 scheduler_concurrency=scheduler, telegram=telegram, redis_rtt_s=rtt.redis)
        if db_server is not None:
            n.db = DbPool(env, db_server, max_size=pf.db.pool_size_per_instance,
                          min_size=pf.db.pool_min_size_per_instance,
                          acquire_timeout_s=pf.db.acquire_timeout_s)
            p.gauges.append(n.db.slots)
        if api is not None:
            n.claude = ClaudeClient(env, api, pf.claude, rng=rng_for(seed, f"claude:{index}"),
                                    horizon_s=horizon_s)
            p.gauges.append(n.claude.semaphore)
        if uses_mcp:
            n.mcp = McpClient(env, pf.mcp, rtt_s=rtt.mcp, rng=rng_for(seed, f"mcp:{index}"),
                              counters=c["mcp"], horizon_s=horizon_s)
        p.gauges += [g for g in (n.handlers, n.cpu, n.scheduler) if g is not None]
        return n

    for i in range(pf.instances):
        p.nodes.append(node(i, pf.handlers_per_instance, sch.concurrency if in_instances else None))
    if pf.mode == "webhook":
        tg = pf.telegram
        p.ingress = Webhook(env, p.nodes, max_connections=tg.webhook_max_connections, rtt_s=rtt.telegram,
                            in_background=tg.webhook_handle_in_background, timeout_s=tg.webhook_timeout_s)
        p.gauges.append(p.ingress.connections)
    else:
        p.ingress = Poller(env, p.nodes[0], batch_size=pf.polling.batch_size, rtt_s=rtt.telegram)

    if dplan is not None:
        if in_instances:
            runners, lock = p.nodes, sch.lock
        else:
            runners, lock = [node(pf.instances, None, sch.concurrency)], "none"
            p.workers = runners
        p.digest_plan["max_per_slot"] = dplan.max_per_slot

        def record(req) -> None:
            req.id = p.next_id()
            p.requests.append(req)

        p.digest_book = DigestBook()
        p.warmup_s = min(scenario.horizon.warmup_s, horizon_s)
        env.process(run_digests(env, dplan, plans["digest"], runners, lock=lock,
                                start_clock_s=hhmm_to_s(scenario.horizon.start), horizon_s=horizon_s,
                                counters=c["digests"], record=record, book=p.digest_book,
                                warmup_s=p.warmup_s))
    return p
