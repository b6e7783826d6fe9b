"""Load profiles of ``botcap loadtest run`` and how command-line options override them.

``smoke``        ≤ 60 s of load: 4 closed-workload users, short think times (1.2 s: above Telegram's
                 1 message/s per chat, which the fake enforces), every kind at least once (each user
                 starts with a tour of the mix), capped at 40 requests. Checks that it all works.
``ci``           ≤ 3 min: an open workload at 3 arrivals/s for 120 s; gated by loadtest/gates/ci.yaml.
``digest``       the digest burst (harness/digest.py): ``users`` subscribers at 10:00, the scheduler's
                 clock moved to 09:59:55, every digest's lateness and the send rate vs Telegram's limit.
``calibration``  a ladder of 6 constant arrival rates from near-idle to well past saturation of the
                 reference stack, 130 s each (13 min of load, ≤ 15 min in all), with the fake Claude API
                 at 0.25 of the scenario's latency: 1 instance's 10 concurrent Claude calls over ~0.6 s
                 of Claude time per average request saturate near 16/s, so 20/s and 26/s are past the
                 knee, and each level brings 4x the requests it would at full latency (~300-700
                 commands per level: enough for a millisecond p95 to be measured within ~10%).
                 ``botcap calibrate`` writes Claude's fitted latencies back at full speed. Each request
                 records its level; the first ``warmup_s`` of each level are marked not steady.

The fake Claude API's latencies are the scenario's; ``claude_time_scale`` shrinks them for the short
profiles and the calibration ladder (recorded in run.json), so that a run is not dominated by
12-second deep answers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from botcap.loadtest.users.arrivals import Segment, format_schedule, parse_schedule, total_duration

from botcap.errors import BadInput


@dataclass(frozen=True)
class Profile:
    name: str
    workload: str                   # "closed" (ChatUser) or "open" (ArrivalGenerator)
    users: int                      # closed: chatting users; open: arrival generators
    arrivals: str = ""              # open: schedule 'RATE@S,...'
    duration_s: float = 60.0        # closed: Locust's --run-time; open: the schedule's length
    max_requests: int = 0           # closed: request cap (0 = none)
    think_time_s: float | None = None   # closed: exponential mean (None = the scenario's)
    tour: bool = False              # closed: each user first sends one message of every kind
    claude_time_scale: float = 1.0
    reply_timeout_s: float = 60.0
    warmup_s: float = 0.0           # per level: not steady yet

    @property
    def class_name(self) -> str:
        return "ArrivalGenerator" if self.workload == "open" else "ChatUser"

    @property
    def segments(self) -> list[Segment]:
        return parse_schedule(self.arrivals) if self.arrivals else []

    @property
    def load_s(self) -> float:
        """How long load is offered (the open schedule's length, or the closed run time)."""
        return total_duration(self.segments) if self.workload == "open" else self.duration_s

    @property
    def run_time_s(self) -> float:
        """Locust's --run-time: the load plus time for the last replies (runs normally end earlier)."""
        extra = self.reply_timeout_s + 5 if self.workload == "open" else 0
        return self.load_s + extra


PROFILES = {
    "smoke": Profile("smoke", "closed", users=4, duration_s=45, max_requests=40, think_time_s=1.2,
                     tour=True, claude_time_scale=0.1, reply_timeout_s=10),
    "ci": Profile("ci", "open", users=1, arrivals="3@120", claude_time_scale=0.25, reply_timeout_s=30),
    "digest": Profile("digest", "digest", users=100, claude_time_scale=0.05, reply_timeout_s=120,
                      duration_s=0),
    "calibration": Profile("calibration", "open", users=1,
                           arrivals="2@130,6@130,10@130,14@130,20@130,26@130",
                           claude_time_scale=0.25, reply_timeout_s=60, warmup_s=20),
}


def resolve(name: str, *, users: int | None = None, rate: float | None = None,
            duration_s: float | None = None, workers: int = 0, arrivals: str | None = None,
            warmup_s: float | None = None) -> Profile:
    """The profile with overrides: --rate makes it an open workload at that constant rate;
    --arrivals at that schedule of levels ('2@30,4@30'); --users alone makes it a closed workload of
    that many users; --duration bounds either; --warmup marks each level's first seconds not steady."""
    if name not in PROFILES:
        raise BadInput(f"--profile: {name!r} is not a profile (choose from {', '.join(PROFILES)})")
    p = PROFILES[name]
    if warmup_s is not None:
        if not 0 <= warmup_s <= 3600:
            raise BadInput(f"--warmup: must be between 0 and 3600 seconds (got {warmup_s})")
        p = replace(p, warmup_s=warmup_s)
    if arrivals is not None:
        if rate is not None or duration_s is not None:
            raise BadInput("--arrivals: give the schedule alone (not with --rate or --duration)")
        try:
            segments = parse_schedule(arrivals)
        except ValueError as e:
            raise BadInput(f"--arrivals: {e}") from None
        if total_duration(segments) > 6 * 3600 or any(max(s.rate0, s.rate1) > 10_000 for s in segments):
            raise BadInput(f"--arrivals: at most 6 h of load and 10000/s per level (got {arrivals!r})")
        if not any(s.expected >= 0.5 for s in segments):
            raise BadInput(f"--arrivals: the schedule brings no arrival (got {arrivals!r})")
        return replace(p, workload="open", arrivals=format_schedule(segments), users=max(users or 1, workers),
                       max_requests=0, tour=False)
    if users is not None and users < 1:
        raise BadInput(f"--users: must be >= 1 (got {users})")
    if rate is not None and not rate > 0:
        raise BadInput(f"--rate: must be > 0 arrivals per second (got {rate})")
    if duration_s is not None and not duration_s > 0:
        raise BadInput(f"--duration: must be > 0 seconds (got {duration_s})")
    if workers < 0:
        raise BadInput(f"--workers: must be >= 0 (got {workers})")
    if rate is not None:
        length = duration_s or (p.load_s if p.workload == "open" else p.duration_s)
        p = replace(p, workload="open", arrivals=format_schedule([Segment(rate, rate, length)]),
                    users=users or 1, max_requests=0, tour=False)
    elif p.workload == "digest":
        p = replace(p, users=users or p.users)
    elif users is not None and p.workload == "closed":
        p = replace(p, users=users, max_requests=p.max_requests and max(p.max_requests, users * 4))
    elif users is not None:
        p = replace(p, workload="closed", users=users, duration_s=duration_s or p.load_s,
                    think_time_s=None, arrivals="")
    if p.workload == "digest":
        return p
    if duration_s is not None and p.workload == "closed":
        p = replace(p, duration_s=duration_s)
    elif duration_s is not None and rate is None:  # stretch/shrink the open schedule to this length
        scale = duration_s / p.load_s
        p = replace(p, arrivals=format_schedule([Segment(s.rate0, s.rate1, s.duration_s * scale)
                                                 for s in p.segments]))
    if workers and p.users < workers:
        p = replace(p, users=workers)  # every worker needs at least one user (the rate is split)
    return p
