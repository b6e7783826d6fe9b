import simpy
from botcap.sim.db import OPEN_RTTS, DbPool, DbServer
from botcap.sim.record import Request


def _server(env, **kw):
    args = dict(max_connections=100, pooler="none", pooler_server_connections=10, rtt_s=0.0,
                query_s=lambda: 10.0, counters={"acquire_timeouts": 0, "too_many_connections": 0})
    args.update(kw)
    return DbServer(env, **args)


def _run_queries(env, pool, n, at_s=0.0):
    reqs, errors = [Request(i, "q", at_s) for i in range(n)], {}

    def one(req):
        yield env.timeout(at_s)
        errors[req.id] = yield from pool.query(req)
        req.done_s = env.now

    for r in reqs:
        env.process(one(r))
    return reqs, errors


def test_acquire_times_out_after_acquire_timeout_s():
    env = simpy.Environment()
    server = _server(env)
    pool = DbPool(env, server, max_size=1, min_size=1, acquire_timeout_s=2.0)
    reqs, errors = _run_queries(env, pool, 3)
    env.run()
    assert errors == {0: "", 1: "db_acquire_timeout", 2: "db_acquire_timeout"}
    assert reqs[1].done_s == 2.0 and reqs[1].wait_db_pool_s == 2.0
    assert server.counters["acquire_timeouts"] == 2
    assert pool.slots.in_use == 0 and pool.slots.queue_len == 0


def test_pools_beyond_max_connections_get_too_many_connections():
    env = simpy.Environment()
    server = _server(env, max_connections=4, rtt_s=0.001)
    pools = [DbPool(env, server, max_size=3, min_size=0, acquire_timeout_s=5.0) for _ in range(2)]
    out = [_run_queries(env, p, 3) for p in pools]
    env.run()
    errors = [e for _, errs in out for e in errs.values()]
    assert errors.count("too_many_connections") == 2 and errors.count("") == 4
    assert server.counters["too_many_connections"] == 2
    assert server.connections.peak_in_use == 4
    # a connection is opened lazily: three round trips, counted as DB service
    ok = [r for reqs, errs in out for r in reqs if errs[r.id] == ""]
    assert all(abs(r.service_db_s - (OPEN_RTTS * 0.001 + 0.001 + 10.0)) < 1e-9 for r in ok)


def test_min_size_is_opened_at_start_and_counted_against_max_connections():
    env = simpy.Environment()
    server = _server(env, max_connections=15)
    DbPool(env, server, max_size=50, min_size=10, acquire_timeout_s=1.0)
    DbPool(env, server, max_size=50, min_size=10, acquire_timeout_s=1.0)
    assert server.connections.in_use == 15 and server.counters["too_many_connections"] == 5


def test_pgbouncer_caps_server_connections_and_queues_queries():
    env = simpy.Environment()
    server = _server(env, pooler="pgbouncer", pooler_server_connections=5, max_connections=100)
    pools = [DbPool(env, server, max_size=10, min_size=0, acquire_timeout_s=100.0) for _ in range(3)]
    out = [_run_queries(env, p, 10) for p in pools]
    env.run()
    assert all(e == "" for _, errs in out for e in errs.values())
    assert server.connections.peak_in_use == 5 and server.counters["too_many_connections"] == 0
    # 30 queries of 10 s on 5 server connections: 6 waves, the last one done at 60 s
    done = sorted(r.done_s for reqs, _ in out for r in reqs)
    assert done[-1] == 60.0 and done[4] == 10.0
    assert sum(r.wait_db_server_s for reqs, _ in out for r in reqs) == 5 * (10 + 20 + 30 + 40 + 50)


def _stage(env, pool, n_requests, n_queries, *, folded, start_s):
    """Each request runs a DB stage of ``n_queries`` at its start time: folded or query by query."""
    reqs, errors = [Request(i, "q", t) for i, t in enumerate(start_s[:n_requests])], {}

    def one(req):
        yield env.timeout(req.arrival_s)
        if folded:
            errors[req.id] = yield from pool.queries(req, n_queries)
        else:
            errors[req.id] = ""
            for _ in range(n_queries):
                error = yield from pool.query(req)
                if error:
                    errors[req.id] = error
                    break
        req.done_s = env.now

    for r in reqs:
        env.process(one(r))
    return reqs, errors


def test_queries_held_as_one_behave_like_queries_one_by_one_also_under_contention():
    # pool of 2, stages of 3 queries arriving 0.3 s apart: waiters appear while stages are folded, so
    # holders must give the connection back at each boundary as separate queries do; some time out.
    # Constant query times: queries() draws its stage's times up front (another order of draws)
    starts = [0.0, 0.3, 0.6, 0.9, 1.2, 40.0]
    outs = []
    for folded in (False, True):
        env = simpy.Environment()
        server = _server(env, rtt_s=0.001, query_s=lambda: 2.0, max_connections=100)
        pool = DbPool(env, server, max_size=2, min_size=1, acquire_timeout_s=1.5)
        reqs, errors = _stage(env, pool, 6, 3, folded=folded, start_s=starts)
        env.run()
        outs.append(([(r.done_s, r.wait_db_pool_s, r.service_db_s) for r in reqs], errors,
                     pool.slots.areas(), pool.slots.peak_queue, dict(server.counters)))
    one_by_one, folded = outs
    assert folded[1] == one_by_one[1] and "db_acquire_timeout" in folded[1].values()
    assert folded[3] == one_by_one[3] > 0 and folded[4] == one_by_one[4]
    for (d1, w1, s1), (d2, w2, s2) in zip(one_by_one[0], folded[0], strict=True):
        assert abs(d1 - d2) < 1e-9 and abs(w1 - w2) < 1e-9 and abs(s1 - s2) < 1e-9
    assert all(abs(a - b) < 1e-9 for a, b in zip(one_by_one[2], folded[2], strict=True))
