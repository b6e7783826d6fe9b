import simpy
from botcap.sim.record import Request
from botcap.sim.telegram import TelegramApi


def _send_all(env, api, reqs):
    def one(req):
        yield env.timeout(req.arrival_s)
        yield from api.send(req)
        req.done_s = env.now

    for r in reqs:
        env.process(one(r))


def test_per_chat_limit_answers_429_and_the_bot_resends_after_retry_after():
    env = simpy.Environment()
    api = TelegramApi(env, send_rate_per_s=30, per_chat_rate_per_s=1, rtt_s=0.05, counters={"http_429": 0})
    reqs = [Request(i, "chat", 0.0, chat_id=7) for i in range(3)]
    _send_all(env, api, reqs)
    env.run()
    # 1 msg/s for one chat: the first goes at once; the others get 429 retry_after 1 s and retry
    # (the third is refused again at t=1.05, the second having just taken that second's token)
    assert [round(r.done_s, 6) for r in reqs] == [0.05, 1.1, 2.15]
    assert api.counters["http_429"] == 3
    assert reqs[2].wait_telegram_send_s == 2.0 and api.sends.peak_queue == 2


def test_bot_wide_send_rate_holds_over_the_long_run():
    env = simpy.Environment()
    api = TelegramApi(env, send_rate_per_s=30, per_chat_rate_per_s=1, rtt_s=0.0, counters={"http_429": 0})
    # 600 replies to distinct chats, all ready at t=0
    reqs = [Request(i, "chat", 0.0, chat_id=i) for i in range(600)]
    _send_all(env, api, reqs)
    env.run()
    last = max(r.done_s for r in reqs)
    # 30/s with a 30-message burst: the last of 600 goes out at (600 - 30) / 30 = 19 s; retry_after
    # is whole seconds, so sends land on whole seconds: allow one second either way.
    assert 18.0 <= last <= 20.0
    assert api.counters["http_429"] > 0
