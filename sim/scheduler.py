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
pg_try_advisory_lock query on its own pool; the first to finish wins), ``redis`` (one SET NX round
trip each; the first wins) or ``none`` (every instance sends: instances - 1 duplicates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from botcap.sim.record import Request
from botcap.sim.workload import DAY_S, rng_for

from botcap.errors import BadInput
from botcap.scenario import Scenario, hhmm_to_s

__all__ = ["DigestPlan", "plan_digests", "assign_slots", "run_digests"]

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


def run_digests(env, dplan: DigestPlan, plan, nodes: list, *, lock: str, start_clock_s: float,
                horizon_s: float, counters: dict, record):
    """SimPy process: fire every planned digest of the horizon on ``nodes``; ``record(req)`` keeps a send.

    A node's jobs queue for its scheduler slots as plain calls (``Semaphore.then``): the job's request
    exists only once it holds a slot, not from its planned time (at 100K DAU, 10:00 would otherwise
    start 30,000 x instances processes at once), and its process only once it has won the lock.
    """
    days = math.ceil((start_clock_s + horizon_s) / DAY_S)
    t_all = np.concatenate([d * DAY_S + dplan.planned_clock_s - start_clock_s for d in range(days)])
    who = np.tile(np.arange(len(dplan.planned_clock_s)), days)
    keep = (t_all >= 0) & (t_all < horizon_s)
    order = np.argsort(t_all[keep], kind="stable")
    t_list, who_list = t_all[keep][order].tolist(), who[keep][order].tolist()
    shift = (dplan.planned_clock_s - dplan.preferred_clock_s).tolist()
    moved, chats = dplan.moved.tolist(), dplan.chat_ids.tolist()

    def start(node, t: float, i: int, claim: list) -> None:
        """One process's run of one digest, holding one of its scheduler slots: the lock (when in every
        instance), then the work if this process sends. ``claim`` is shared by the processes firing the
        same digest: [a sender is chosen]. The lock is taken by plain calls, not a SimPy process: 4 of
        5 instances lose each digest's lock, and their whole job is that query or round trip."""
        req = Request(-1, "digest", t, chats[i], is_digest=True)
        req.preferred_s, req.planned_s = t - shift[i], t
        req.wait_handler_s = env._now - t  # env._now: see sim.resources
        req.instance = node.index
        if lock == "advisory":  # SELECT pg_try_advisory_lock(digest id); the first to finish wins
            node.db.query_then(req, lambda error: locked(node, req, claim, not error and not claim[0]))
        elif lock == "redis" and node.redis_rtt_s:  # SET digest:id NX
            env.timeout(node.redis_rtt_s).callbacks.append(lambda _e: locked(node, req, claim, not claim[0]))
        else:
            locked(node, req, claim, lock == "none" or not claim[0])

    def locked(node, req: Request, claim: list, won: bool) -> None:
        """The lock's outcome: give the slot back, or send (a process whose handler releases the slot)."""
        if not won:
            node.scheduler.release()
            return
        if claim[0]:
            req.is_duplicate = True
            counters["duplicate_sends"] += 1
        claim[0] = True
        record(req)
        env.process(node.handle(req, plan, slot=node.scheduler))

    for t, i in zip(t_list, who_list, strict=True):
        if t > env._now:
            yield env.timeout(t - env._now)
        counters["scheduled"] += 1
        if moved[i]:
            counters["moved"] += 1
            counters["moved_by_s_total"] += abs(shift[i])
        claim = [False]
        for node in nodes:
            node.scheduler.then(start, node, t, i, claim)
