"""Daily digests: who wants theirs when, which slot the scheduler gives them, and who sends it.

Plan (before the run, once per day's pattern): each subscriber picks a wall-clock minute — one of
``preferred_times`` or, for ``spread_share`` of them, a minute spread uniformly over 07:00-23:00.
Without ``cap_per_slot`` the digest is planned at that exact minute. With a cap, minutes fall into
``slot_minutes`` slots and the digest is sent at its slot's start; subscribers choose in a random
order and one who finds the slot full is moved by the policy: ``none`` — not moved (the cap is only
advice), ``auto_shift`` — to the next slot with room, ``suggest_next`` — a share
``suggest_acceptance_share`` accepts the next free slot, the rest take the previous free slot. With a
policy on, the cap is never exceeded (a cap too small for the day is bad input).

Run: at each planned time the digest job fires where the scheduler lives: one separate worker, or
every instance — then ``lock`` decides who sends: ``advisory`` (each instance runs one
pg_try_advisory_lock query on its own pool), ``redis`` (one SET NX PX round trip each) or ``none``
(every instance that reaches it before it is sent sends it). The lock lives as a real one does
(``run_digests``): held while its winner sends, then released; instances reach the same digest
minutes apart when their queues differ, and duplicates follow from that, not from an assumption.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from botcap.sim.record import Request
from botcap.sim.workload import DAY_S, rng_for

from botcap.errors import BadInput
from botcap.scenario import Scenario, hhmm_to_s

__all__ = ["DigestPlan", "DigestBook", "plan_digests", "assign_slots", "run_digests", "LOCK_RETRY_S"]

SPREAD_FROM_S, SPREAD_TO_S = 7 * 3600.0, 23 * 3600.0


@dataclass(frozen=True)
class DigestPlan:
    """One day's pattern per subscriber (wall clock, seconds after midnight)."""

    preferred_clock_s: np.ndarray
    planned_clock_s: np.ndarray
    moved: np.ndarray              # bool: the scheduler moved this subscriber to another slot
    chat_ids: np.ndarray
    max_per_slot: int              # the busiest slot_minutes slot of the planned times


def assign_slots(pref_slot: np.ndarray, n_slots: int, cap: int | None, policy: str, accept_share: float,
                 rng: np.random.Generator) -> np.ndarray:
    """The slot each subscriber gets, deciding in the given (random sign-up) order."""
    if cap is None or policy == "none":
        return pref_slot.copy()
    if len(pref_slot) > cap * n_slots:
        raise BadInput(f"scheduler.cap_per_slot: must be >= {math.ceil(len(pref_slot) / n_slots)} for "
                       f"{len(pref_slot)} subscribers in {n_slots} slots a day (got {cap})")
    counts = np.zeros(n_slots, dtype=np.int64)
    out = np.empty_like(pref_slot)
    accept = rng.random(len(pref_slot)) < accept_share
    for i, s in enumerate(pref_slot.tolist()):
        if counts[s] >= cap:
            forward = policy == "auto_shift" or accept[i]
            s = _free(counts, cap, s, +1 if forward else -1)
            if s < 0:
                s = _free(counts, cap, int(pref_slot[i]), -1 if forward else +1)
        counts[s] += 1
        out[i] = s
    return out


def _free(counts: np.ndarray, cap: int, s: int, step: int) -> int:
    s += step
    while 0 <= s < len(counts):
        if counts[s] < cap:
            return s
        s += step
    return -1


def plan_digests(scenario: Scenario, seed: int) -> DigestPlan | None:
    d, sch = scenario.workload.digests, scenario.scheduler
    n = int(round(scenario.workload.dau * d.subscribers_share))
    if n == 0:
        return None
    rng = rng_for(seed, "digests")
    times = list(d.preferred_times)
    shares = np.array([d.preferred_times[t] for t in times] + [d.spread_share])
    choice = rng.choice(len(shares), size=n, p=shares / shares.sum())
    fixed = np.array([hhmm_to_s(t) for t in times] + [0.0])
    spread_minute = rng.integers(int(SPREAD_FROM_S // 60), int(SPREAD_TO_S // 60), n)
    pref = np.where(choice == len(times), spread_minute * 60.0, fixed[choice])
    slot_s = sch.slot_minutes * 60.0
    n_slots = math.ceil(DAY_S / slot_s)
    pref_slot = (pref // slot_s).astype(np.int64)
    if sch.cap_per_slot is None:
        planned, moved = pref.copy(), np.zeros(n, dtype=bool)
        slot = pref_slot
    else:
        slot = assign_slots(pref_slot, n_slots, sch.cap_per_slot, sch.policy, sch.suggest_acceptance_share,
                            rng)
        planned, moved = slot * slot_s, slot != pref_slot
    max_per_slot = int(np.bincount(slot, minlength=n_slots).max())
    return DigestPlan(pref, planned, moved, rng.integers(0, scenario.workload.dau, n), max_per_slot)


LOCK_RETRY_S = 60.0   # a lock query refused (too many connections, pool timeout): tried again next tick
REDIS_LOCK_TTL_S = 60.0  # SET NX PX 60000, as the reference bot: a send outlasting it loses the lock

WAITING, HELD, DONE = 0, 1, 2  # a digest: nobody sends it yet / a sender holds its lock / sent or failed


class _Digest:
    """One digest of the horizon as the instances see it: its state, when its lock was taken, and how
    many instances' jobs for it are still queued or waiting to retry (``outstanding``)."""

    __slots__ = ("t", "i", "state", "held_at", "outstanding")

    def __init__(self, t: float, i: int, outstanding: int):
        self.t, self.i, self.state, self.held_at, self.outstanding = t, i, WAITING, 0.0, outstanding


class _LockJob:
    """One instance's attempt at one digest's lock, until it wins: what the lock query adds to the send's
    row (``DbPool.query_then`` writes these fields). The ``Request`` itself is made only by the winner:
    at 1M DAU most attempts lose (one per instance per digest) and a row object each cost more than this."""

    __slots__ = ("started_s", "wait_db_pool_s", "wait_db_server_s", "service_db_s")

    def __init__(self, started_s: float):
        self.started_s = started_s
        self.wait_db_pool_s = self.wait_db_server_s = self.service_db_s = 0.0


class DigestBook:
    """What became of every digest the scheduler fired, for the end of the run: the ones nobody has
    begun to send yet (still queued for a scheduler slot or waiting to retry their lock) are in flight,
    and any that every instance gave up on without a send would be missed (counted, never dropped)."""

    def __init__(self):
        self.open: dict[int, _Digest] = {}  # fired and not yet begun by a sender, by firing order
        self.missed_t: list[float] = []
        # fired at or after the warm-up, counted here rather than by a counter snapshot: a digest fired
        # at the warm-up instant itself is then counted exactly when its row is kept (arrival >= warm-up)
        self.scheduled = self.moved = 0
        self.lock_lost = self.found_sent = 0  # a job that found the lock held / the digest already sent
        self.moved_by_s_total = 0.0
        self.shift: list[float] = []  # planned - preferred, per subscriber
        # digests whose user's time is in the measured window but whose slot is past its end (auto_shift)
        self.shifted_preferred_s: list[float] = []
        self.shifted_planned_s: list[float] = []

    def final(self, warmup_s: float) -> dict:
        """Counts over digests fired at or after ``warmup_s``; for the unsent ones their preferred and
        planned times (simulated s), from which the summary bounds their lateness."""
        waiting = [d for d in self.open.values() if d.t >= warmup_s and d.outstanding]
        return {"scheduled": self.scheduled, "moved": self.moved, "moved_by_s_total": self.moved_by_s_total,
                "lock_lost": self.lock_lost, "found_sent": self.found_sent,
                "waiting": len(waiting),
                "waiting_preferred_s": [d.t - self.shift[d.i] for d in waiting],
                "waiting_planned_s": [d.t for d in waiting],
                "missed": sum(1 for d in self.open.values() if d.t >= warmup_s and not d.outstanding)
                + sum(1 for t in self.missed_t if t >= warmup_s),
                "shifted_past_horizon": len(self.shifted_preferred_s),
                "shifted_preferred_s": list(self.shifted_preferred_s),
                "shifted_planned_s": list(self.shifted_planned_s)}


def run_digests(env, dplan: DigestPlan, plan, nodes: list, *, lock: str, start_clock_s: float,
                horizon_s: float, counters: dict, record, book: DigestBook | None = None,
                warmup_s: float = 0.0):
    """SimPy process: fire every planned digest of the horizon on ``nodes``; ``record(req)`` keeps a send.

    A node's jobs queue for its scheduler slots as plain calls (``Semaphore.then``): the job's request
    exists only once it holds a slot, not from its planned time (at 100K DAU, 10:00 would otherwise
    start 30,000 x instances processes at once), and its process only once it has won the lock.

    The lock's life cycle: a job that finds the digest sent (or failed) skips it, as the bot's "due and
    not in digests_sent" query does; else ``advisory`` (pg_try_advisory_lock on its own pool) and
    ``redis`` (SET NX PX) win if nobody holds the lock, and the winner holds it until its send ends;
    a Redis lock also expires after ``REDIS_LOCK_TTL_S``, so a send that outlasts it is sent again by the
    next instance to reach it (a duplicate); ``none``: every instance that reaches the digest before it
    is sent sends it. A lock query that fails (too many connections, pool timeout) is tried again
    ``LOCK_RETRY_S`` later, holding no slot meanwhile. A failed send is final (not retried).
    """
    days = math.ceil((start_clock_s + horizon_s) / DAY_S)
    t_all = np.concatenate([d * DAY_S + dplan.planned_clock_s - start_clock_s for d in range(days)])
    who = np.tile(np.arange(len(dplan.planned_clock_s)), days)
    keep = (t_all >= 0) & (t_all < horizon_s)
    order = np.argsort(t_all[keep], kind="stable")
    t_list, who_list = t_all[keep][order].tolist(), who[keep][order].tolist()
    shift = (dplan.planned_clock_s - dplan.preferred_clock_s).tolist()
    moved, chats = dplan.moved.tolist(), dplan.chat_ids.tolist()
    if book is None:
        book = DigestBook()
    pref_all = t_all - np.tile(np.asarray(shift), days)
    past = (t_all >= horizon_s) & (pref_all >= warmup_s) & (pref_all < horizon_s)
    book.shift = shift
    book.shifted_preferred_s, book.shifted_planned_s = pref_all[past].tolist(), t_all[past].tolist()
    open_ = book.open

    def start(node, dg: _Digest) -> None:
        """One process's run of one digest, holding one of its scheduler slots: the lock (when in every
        instance), then the work if this process sends. The lock is taken by plain calls, not a SimPy
        process: most instances lose each digest's lock, and their whole job is that query or round trip."""
        if dg.state == DONE:  # the due query finds it in digests_sent
            skip(node, dg)
            return
        job = _LockJob(env._now)  # env._now: see sim.resources
        if lock == "advisory":  # SELECT pg_try_advisory_lock(digest id)
            node.db.query_then(job, lambda error: locked(node, job, dg, error))
        elif lock == "redis" and node.redis_rtt_s:  # SET digest:id NX PX
            env.timeout(node.redis_rtt_s).callbacks.append(lambda _e: locked(node, job, dg, ""))
        else:
            locked(node, job, dg, "")

    def skip(node, dg: _Digest) -> None:
        if dg.t >= warmup_s:
            if dg.state == DONE:
                book.found_sent += 1
            else:
                book.lock_lost += 1
        node.scheduler.release()
        dg.outstanding -= 1
        if dg.state == WAITING and not dg.outstanding:  # every instance gave up: say so
            del open_[id(dg)]
            book.missed_t.append(dg.t)

    def locked(node, job: _LockJob, dg: _Digest, error: str) -> None:
        """The lock's outcome: retry later (the query failed), give the slot back, or send."""
        if error:
            counters["lock_retries"] += 1
            node.scheduler.release()
            env.timeout(LOCK_RETRY_S).callbacks.append(lambda _e: node.scheduler.then(start, node, dg))
            return
        state = dg.state
        if state == DONE or (state == HELD and lock != "none"
                             and not (lock == "redis" and env._now >= dg.held_at + REDIS_LOCK_TTL_S)):
            skip(node, dg)
            return
        dg.outstanding -= 1
        t, i = dg.t, dg.i
        req = Request(-1, "digest", t, chats[i], is_digest=True)
        req.preferred_s, req.planned_s = t - shift[i], t
        req.wait_handler_s = job.started_s - t
        req.instance = node.index
        req.wait_db_pool_s, req.wait_db_server_s = job.wait_db_pool_s, job.wait_db_server_s
        req.service_db_s = job.service_db_s
        if state == HELD:
            req.is_duplicate = True
            counters["duplicate_sends"] += 1
        else:
            open_.pop(id(dg), None)
        dg.state, dg.held_at = HELD, env._now
        record(req)
        # sent or failed, the lock is released when the handler ends (a callback: no generator layer
        # wrapped around every event of the send)
        env.process(node.handle(req, plan, slot=node.scheduler)).callbacks.append(
            lambda _e: setattr(dg, "state", DONE))

    for t, i in zip(t_list, who_list, strict=True):
        if t > env._now:
            yield env.timeout(t - env._now)
        counters["scheduled"] += 1
        if moved[i]:
            counters["moved"] += 1
            counters["moved_by_s_total"] += abs(shift[i])
        if t >= warmup_s:
            book.scheduled += 1
            if moved[i]:
                book.moved += 1
                book.moved_by_s_total += abs(shift[i])
        dg = _Digest(t, i, len(nodes))
        open_[id(dg)] = dg
        for node in nodes:
            node.scheduler.then(start, node, dg)
