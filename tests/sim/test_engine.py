import pandas as pd
import pytest
from botcap.sim.engine import RawRun, simulate
from botcap.sim.record import FIELDS

from botcap.scenario import load_scenario

SMALL = ["workload.dau=300", "horizon.start=09:30", "horizon.warmup_s=300"]


def _run(*sets, seed=11, hours=1.0) -> RawRun:
    return simulate(load_scenario(sets=[*SMALL, *sets]), seed, hours=hours)


def test_same_seed_same_requests_and_counters_other_seed_differs():
    a, b, c = _run(), _run(), _run(seed=12)
    pd.testing.assert_frame_equal(a.requests, b.requests)
    assert a.counters == b.counters
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries)
    assert not a.requests["arrival_s"].equals(c.requests["arrival_s"])


def test_raw_run_follows_the_contract():
    run = _run()
    assert list(run.requests.columns) == list(FIELDS)
    assert run.simulated_s == 3600.0 and run.warmup_s == 300.0
    c = run.counters
    assert set(c) >= {"claude", "db", "digests", "telegram", "resources"}
    assert set(c["claude"]) >= {"calls", "http_429", "http_529", "retries", "breaker_open_s", "tokens"}
    assert set(c["claude"]["tokens"]["sonnet"]) == {"input", "output", "cache_read", "cache_write"}
    assert set(c["db"]) >= {"peak_server_connections", "acquire_timeouts", "too_many_connections"}
    assert set(c["digests"]) >= {"scheduled", "moved", "moved_by_s_mean", "duplicate_sends", "max_per_slot"}
    for name in ("handlers", "cpu", "db_pool", "db_server", "claude_semaphore", "telegram_send",
                 "webhook_connections"):
        r = c["resources"][name]
        assert set(r) == {"capacity", "busy_s", "queue_s", "peak_in_use", "peak_queue", "busy_s_by_process",
                          "capacity_by_process"}
        assert sum(r["busy_s_by_process"]) == pytest.approx(r["busy_s"])
        assert sum(r["capacity_by_process"]) == r["capacity"]
        if r["capacity"]:
            assert 0 <= r["busy_s"] <= r["capacity"] * (run.simulated_s - run.warmup_s) + 1e-6
    assert c["resources"]["handlers"]["capacity"] == 5 * 100
    assert list(run.timeseries.columns) == ["t_s", "resource", "in_use", "queue_len"]
    assert run.timeseries["t_s"].iloc[-1] == 3540.0
    users = run.requests[~run.requests.is_digest]
    assert set(users.kind) == {"command", "note", "chat_simple", "chat_deep"}
    done = users[users.ok]
    assert (done.done_s >= done.arrival_s).all()


def test_handler_busy_time_matches_the_requests_it_served():
    # Little's law inside the model: the busy-time integral equals the sum of handler holding times
    run = _run("horizon.warmup_s=0", "workload.digests.subscribers_share=0", hours=0.5)
    df = run.requests
    finished = df[df.done_s.notna()]
    held = (finished.done_s - finished.arrival_s - finished.wait_handler_s - finished.wait_webhook_s
            - 0.025).sum()   # minus half the telegram RTT: the webhook POST travelling to the instance
    unfinished = df[df.done_s.isna()]
    busy = run.counters["resources"]["handlers"]["busy_s"]
    # only requests still in a handler at the end are not in `held`: at most their time in the run
    assert held <= busy + 1e-6
    assert busy - held <= (1800.0 - unfinished.arrival_s).sum() + 1e-6


@pytest.mark.parametrize("background", [True, False])
def test_webhook_max_connections_caps_concurrency_only_when_handling_inline(background):
    sets = ["workload.arrivals.process=poisson", "workload.arrivals.rate_per_s=20", "workload.mix={work: 1}",
            "workload.kinds={work: {service_s: 0.001, model: null, db_queries: 0, telegram_sends: 0,"
            " mcp_calls: 1}}", "platform.mcp.latency_s=2.0", "workload.digests.subscribers_share=0",
            "slo.p95_s={}", "platform.telegram.webhook_max_connections=10",
            f"platform.telegram.webhook_handle_in_background={str(background).lower()}"]
    run = _run(*sets, hours=0.1)
    peak_handlers = run.counters["resources"]["handlers"]["peak_in_use"]
    # offered load: 20/s x ~2.06 s = ~41 handlers busy on average over 5 instances
    if background:
        assert peak_handlers > 30
        assert run.requests.wait_webhook_s.max() == 0
    else:
        assert peak_handlers <= 10   # summed over instances: the whole bot handles at most 10 at once
        assert run.counters["resources"]["webhook_connections"]["peak_queue"] > 100
        assert run.requests.wait_webhook_s.max() > 10


def test_polling_sends_every_update_to_one_process():
    run = _run("platform.mode=polling", "workload.digests.subscribers_share=0", hours=0.5)
    users = run.requests
    assert len(users) > 100 and set(users.instance) == {0}
    assert run.counters["resources"]["handlers"]["capacity"] == 500
    assert "webhook_connections" not in run.counters["resources"]


def test_progress_is_called_every_simulated_minute():
    seen = []
    simulate(load_scenario(sets=SMALL), 1, hours=0.1, progress=seen.append)
    assert seen == [60.0 * i for i in range(6)]


def test_given_arrivals_replace_the_drawn_plan():
    import numpy as np
    from botcap.sim.workload import OpenArrivals

    sc = load_scenario(sets=[*SMALL, "workload.digests.subscribers_share=0", "horizon.warmup_s=0"])
    names = tuple(sc.workload.mix)
    plan = OpenArrivals(t_s=np.array([1.0, 2.5, 2.5, 4000.0]), kinds=np.array([0, 1, 0, 0], dtype=np.int32),
                        chat_ids=np.array([7, 8, 9, 10]), names=names)
    run = simulate(sc, 3, hours=1.0, arrivals=plan)
    r = run.requests
    assert r.arrival_s.tolist() == [1.0, 2.5, 2.5]      # the one after the horizon is never reached
    assert r.kind.tolist() == [names[0], names[1], names[0]] and r.chat_id.tolist() == [7, 8, 9]
    assert r.ok.all()


@pytest.mark.parametrize("sets", [
    ["platform.instances=1", "workload.kinds.command.service_s=0.05"],
    ["platform.instances=1", "workload.kinds.command.service_s=0.2", "platform.handlers_per_instance=3"],
    ["platform.db.pool_size_per_instance=2", "platform.db.pool_min_size_per_instance=1",
     "platform.db.acquire_timeout_s=0.05"],
    ["platform.instances=2", "platform.db.max_connections=12", "platform.db.pool_min_size_per_instance=1"]])
def test_early_deliveries_give_the_same_results_as_waiting_for_each_delivery(sets, monkeypatch):
    # a slow core, small pools or few connections, and the 10:00 digests: early deliveries (and their DB
    # stages) are begun, taken up by others and cancelled; with or without them, the same requests,
    # counters and time series
    import botcap.sim.db
    import botcap.sim.instance

    made, started, db_folded, db_cancelled = [0], [0], [0], [0]

    class Counted(botcap.sim.instance._Early):
        __slots__ = ()

        def __init__(self, *args):
            made[0] += 1
            super().__init__(*args)

    start = botcap.sim.instance.Node._start_early
    fold, cancel = botcap.sim.db.DbPool.fold_early, botcap.sim.db.DbPool.cancel_early

    def counted_start(node):
        started[0] += 1
        start(node)

    def counted_fold(pool, early):
        folded = fold(pool, early)
        db_folded[0] += folded
        return folded

    def counted_cancel(pool, early):
        db_cancelled[0] += 1
        cancel(pool, early)

    monkeypatch.setattr(botcap.sim.instance, "_Early", Counted)
    monkeypatch.setattr(botcap.sim.instance.Node, "_start_early", counted_start)
    monkeypatch.setattr(botcap.sim.db.DbPool, "fold_early", counted_fold)
    monkeypatch.setattr(botcap.sim.db.DbPool, "cancel_early", counted_cancel)
    sets = ["workload.dau=3000", "horizon.start=09:45", *sets]
    early = _run(*sets, hours=0.5)
    assert made[0] > 200 and started[0] > 200 and db_folded[0] > 200
    if "workload.kinds.command.service_s=0.05" in sets:
        assert made[0] > started[0]  # some were cancelled
    if "platform.db.pool_size_per_instance=2" in sets:
        assert db_cancelled[0] > 0
    monkeypatch.setattr(botcap.sim.instance.Node, "early_deliveries", False)
    made[0] = 0
    waited = _run(*sets, hours=0.5)
    assert made[0] == 0
    pd.testing.assert_frame_equal(early.requests, waited.requests, check_exact=True)
    pd.testing.assert_frame_equal(early.timeseries, waited.timeseries, check_exact=True)
    assert early.counters == waited.counters
