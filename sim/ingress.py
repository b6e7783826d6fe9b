"""How an update gets from Telegram to a handler: webhook behind a load balancer, or one long-poll loop.

Webhook: Telegram opens at most ``webhook_max_connections`` simultaneous requests per bot and queues the
rest of the updates itself. A round-robin load balancer spreads them over the instances (PaaS proxies
such as Railway's balance per request, not by load). With ``webhook_handle_in_background`` aiogram
answers 200 at once and handles the update in a task, so a connection is held for one RTT; without it
the connection is held for the whole handler, and ``max_connections`` then caps how many updates the
*whole bot* handles at once, whatever the number of instances. A handler still running after
``webhook_timeout_s`` loses its connection (Telegram gives up): error "webhook_timeout".

Polling: Telegram allows one getUpdates poller per token, so one process (instance 0) receives every
update: the long poll returns as soon as updates exist, with up to ``batch_size`` of them, after half
an RTT; each is dispatched as a task (they queue for that instance's handler slots); the next poll
reaches Telegram half an RTT later.
"""

from __future__ import annotations

from collections import deque

import simpy
from botcap.sim.instance import Node
from botcap.sim.record import Request
from botcap.sim.resources import DelayedSemaphore
from botcap.sim.workload import KindPlan

__all__ = ["Webhook", "Poller"]


class Webhook:
    def __init__(self, env: simpy.Environment, nodes: list[Node], *, max_connections: int, rtt_s: float,
                 in_background: bool, timeout_s: float):
        self.env, self.nodes = env, nodes
        self.connections = DelayedSemaphore(env, "webhook_connections", max_connections)
        self.half_rtt_s = rtt_s / 2
        self.in_background, self.timeout_s = in_background, timeout_s
        self._next = 0

    def submit(self, req: Request, plan: KindPlan) -> None:
        """Deliver without waiting for the outcome (open arrivals): nothing waits for the last reply."""
        self.env.process(self.run(req, plan, lazy_end=True))

    def run(self, req: Request, plan: KindPlan, lazy_end: bool = False):
        """Deliver and handle: a generator to ``yield from``, whose value is the time the handler is done:
        with ``lazy_end`` and a handler in the background, possibly later than now (see ``Node.handle``).
        With a free connection and a handler in the background, it is the handler itself, which also
        waits for the delivery: no generator of its own on each resume of the request."""
        if self.in_background:
            ev = self.connections.acquire()
            if ev is None:  # _deliver(), inlined: once per request
                node = self.nodes[self._next]
                self._next = (self._next + 1) % len(self.nodes)
                self.connections.release_at(self.env._now + self.half_rtt_s + self.half_rtt_s)
                return node.handle(req, plan, lazy_end=lazy_end, deliver_s=self.half_rtt_s)
            return self._queued(ev, req, plan, lazy_end)
        return self._blocking(req, plan)

    def _deliver(self, req: Request, plan: KindPlan, lazy_end: bool):
        """Holding a connection: the POST reaches the next instance half an RTT from now and is answered
        200 at once, the 200 travelling back while the handler runs."""
        node = self.nodes[self._next]
        self._next = (self._next + 1) % len(self.nodes)
        # env._now: see sim.resources
        self.connections.release_at(self.env._now + self.half_rtt_s + self.half_rtt_s)
        return node.handle(req, plan, lazy_end=lazy_end, deliver_s=self.half_rtt_s)

    def _queued(self, ev, req: Request, plan: KindPlan, lazy_end: bool):
        t0 = self.env._now
        yield ev
        req.wait_webhook_s = self.env._now - t0
        return (yield from self._deliver(req, plan, lazy_end))

    def _blocking(self, req: Request, plan: KindPlan):
        """The connection is held for the whole handler, or until Telegram gives up on it."""
        env, conns = self.env, self.connections
        ev = conns.acquire()
        if ev is not None:
            t0 = env._now
            yield ev
            req.wait_webhook_s = env._now - t0
        node = self.nodes[self._next]
        self._next = (self._next + 1) % len(self.nodes)
        if self.half_rtt_s:
            yield env.timeout(self.half_rtt_s)  # the POST reaches the instance
        held = [True]

        def give_up(_e):
            if held[0]:
                held[0] = False
                conns.release()

        env.timeout(self.timeout_s).callbacks.append(give_up)
        yield from node.handle(req, plan)
        if held[0]:
            held[0] = False
            conns.release()
        else:
            req.ok, req.error = False, req.error or "webhook_timeout"
        return env._now


class Poller:
    def __init__(self, env: simpy.Environment, node: Node, *, batch_size: int, rtt_s: float):
        self.env, self.node = env, node
        self.batch_size, self.half_rtt_s = batch_size, rtt_s / 2
        self.pending: deque = deque()
        self._wake: simpy.Event | None = None
        env.process(self._loop())

    def submit(self, req: Request, plan: KindPlan, done: simpy.Event | None = None) -> None:
        self.pending.append((req, plan, done))
        if self._wake is not None:
            wake, self._wake = self._wake, None
            wake.succeed()

    def run(self, req: Request, plan: KindPlan, lazy_end: bool = False):
        """Deliver and handle; returns the time the handler is done (now: ``lazy_end`` is not used here)."""
        done = self.env.event()
        self.submit(req, plan, done)
        yield done
        return self.env._now

    def _loop(self):
        env, pending = self.env, self.pending
        while True:
            if not pending:
                self._wake = env.event()  # the long poll is held open until an update exists
                yield self._wake
            batch = [pending.popleft() for _ in range(min(self.batch_size, len(pending)))]
            if self.half_rtt_s:
                yield env.timeout(self.half_rtt_s)
            for req, plan, done in batch:
                env.process(self._task(req, plan, done))
            if self.half_rtt_s:
                yield env.timeout(self.half_rtt_s)

    def _task(self, req: Request, plan: KindPlan, done: simpy.Event | None):
        yield from self.node.handle(req, plan)
        if done is not None:
            done.succeed()
