"""``Semaphore.then`` waiters that give their unit straight back (a digest job that finds its digest
already sent) must not call one another recursively: a 10:00 burst queues thousands of them, and a 529
storm at 60% once ended every report in a RecursionError (release -> start -> skip -> release ...)."""

from __future__ import annotations

import simpy
from botcap.sim.resources import Semaphore


def test_a_long_chain_of_waiters_that_release_at_once_runs_flat_and_in_order():
    env = simpy.Environment()
    sem = Semaphore(env, "scheduler", 1)
    ran: list[int] = []
    depth = [0, 0]  # current, deepest nesting of waiter calls

    def job(i: int) -> None:
        depth[0] += 1
        depth[1] = max(depth[1], depth[0])
        ran.append(i)
        sem.release()  # skip: give the slot back at once
        depth[0] -= 1

    sem.then(lambda: None)  # the unit is taken ...
    for i in range(20_000):  # ... so these queue, far more than Python's recursion limit
        sem.then(job, i)
    assert sem.queue_len == 20_000
    sem.release()
    assert ran == list(range(20_000))  # every waiter ran once, FIFO
    assert depth[1] == 1  # none inside another
    assert sem.in_use == 0 and sem.queue_len == 0


def test_a_waiter_that_keeps_its_unit_stops_the_chain_until_it_releases():
    env = simpy.Environment()
    sem = Semaphore(env, "scheduler", 1)
    ran: list[str] = []
    sem.then(lambda: ran.append("first"))
    sem.then(lambda: ran.append("holds"))          # keeps the unit
    sem.then(lambda: (ran.append("skips"), sem.release()))
    sem.then(lambda: ran.append("last"))
    sem.release()                                   # "first" gives back: "holds" runs and keeps it
    assert ran == ["first", "holds"] and sem.in_use == 1 and sem.queue_len == 2
    sem.release()                                   # "holds" gives back: "skips" runs, passes on
    assert ran == ["first", "holds", "skips", "last"] and sem.in_use == 1 and sem.queue_len == 0
