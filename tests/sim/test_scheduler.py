import numpy as np
import pytest
from botcap.sim.engine import simulate
from botcap.sim.scheduler import assign_slots, plan_digests

from botcap.errors import BadInput
from botcap.scenario import load_scenario


@pytest.mark.parametrize("policy", ["suggest_next", "auto_shift"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_slot_cap_is_never_exceeded_with_a_policy(policy, seed):
    rng = np.random.default_rng(seed)
    # a rush: 60% of 2000 at one slot, the rest anywhere
    pref = np.where(rng.random(2000) < 0.6, 120, rng.integers(0, 288, 2000))
    slots = assign_slots(pref, 288, 25, policy, 0.7, rng)
    counts = np.bincount(slots, minlength=288)
    assert counts.max() <= 25
    moved = slots != pref
    assert moved.sum() >= 1200 - 25  # all but the cap of the rush slot moved
    if policy == "auto_shift":
        assert np.all(slots[moved] > pref[moved])  # only ever later
    else:
        later = (slots[moved] > pref[moved]).mean()
        # 70% accept the next free slot (the rest the previous one); ~1200 draws: sd ~1.3%, allow 5 sd
        assert abs(later - 0.7) < 0.07


def test_policy_none_keeps_everyone_and_may_exceed_the_cap():
    pref = np.full(100, 5)
    assert np.array_equal(assign_slots(pref, 288, 10, "none", 0.7, np.random.default_rng(0)), pref)


def test_a_cap_too_small_for_the_day_is_bad_input():
    with pytest.raises(BadInput, match=r"scheduler.cap_per_slot: must be >= 2 .*\(got 1\)"):
        assign_slots(np.zeros(300, dtype=np.int64), 288, 1, "auto_shift", 0.7, np.random.default_rng(0))


def test_plan_moves_users_and_planned_times_are_slot_starts():
    sc = load_scenario(sets=["scheduler.cap_per_slot=50", "scheduler.policy=auto_shift"])
    plan = plan_digests(sc, seed=5)
    assert len(plan.chat_ids) == 6000 and plan.max_per_slot == 50
    assert np.all(plan.planned_clock_s % 300 == 0)
    assert np.all(plan.planned_clock_s[plan.moved] > plan.preferred_clock_s[plan.moved])
    # 85% of 6000 pick 10:00, 09:00 or 20:00 against 50 a slot: all but 3 x 50 of them move (~4950,
    # multinomial sd ~30, so > 4800), plus at most the 900 spread users whose slot the crowd took
    assert 4800 < plan.moved.sum() <= 4950 + 150 + 900


def _digest_run(placement, lock, instances=3):
    sc = load_scenario(sets=[
        "workload.dau=200", "workload.digests.subscribers_share=1", "horizon.start=09:55",
        "horizon.warmup_s=0",
        "workload.sessions_per_user=0.001", f"platform.instances={instances}",
        f"scheduler.placement={placement}", f"scheduler.lock={lock}"])
    return simulate(sc, seed=3, hours=0.5)


@pytest.mark.parametrize("lock,dups_per_digest", [("none", 2), ("advisory", 0), ("redis", 0)])
def test_every_instance_placement_duplicates_only_without_a_lock(lock, dups_per_digest):
    run = _digest_run("every_instance", lock)
    d = run.requests[run.requests.is_digest]
    scheduled = run.counters["digests"]["scheduled"]
    assert scheduled > 50  # the 10:00 crowd of 200 subscribers
    assert run.counters["digests"]["duplicate_sends"] == dups_per_digest * scheduled
    assert len(d) == (1 + dups_per_digest) * scheduled
    assert d.is_duplicate.sum() == dups_per_digest * scheduled
    assert d.instance.nunique() > 1


def test_separate_worker_sends_each_digest_once_from_its_own_process():
    run = _digest_run("separate", "none")
    d = run.requests[run.requests.is_digest]
    assert len(d) == run.counters["digests"]["scheduled"] and not d.is_duplicate.any()
    assert set(d.instance) == {3}   # the worker after instances 0..2
    assert (d.done_s >= d.preferred_s).all() and d.ok.all()
