"""The scheduler's "now", shared by every process through Redis and settable over HTTP.

Why Redis: with placement every_instance there are N schedulers; one ``POST /_control/clock`` must move
them all at once, so the clock lives in one place they all read (one GET per tick). Unset, it is the
real UTC time. Set, it is ``now`` at the moment of setting, advancing at ``speed`` × real time, so a
test can jump to 09:59:50 and watch the 10:00 burst happen seconds later.
"""

from __future__ import annotations

import datetime as dt
import json
import time

_UTC = dt.UTC


class SharedClock:
    def __init__(self, redis, prefix: str):
        self.redis = redis
        self.key = f"{prefix}:clock"

    async def set(self, now_hhmm: str, speed: float = 1.0, day: str | None = None) -> dict:
        """Make "now" ``now_hhmm`` ("HH:MM" or "HH:MM:SS") on ``day`` (default today), moving at ``speed``."""
        parts = [int(p) for p in now_hhmm.split(":")]
        if len(parts) not in (2, 3) or not (0 <= parts[0] < 24 and 0 <= parts[1] < 60):
            raise ValueError(f'now: must be "HH:MM" or "HH:MM:SS" (got {now_hhmm!r})')
        if not 0 < speed <= 100_000:
            raise ValueError(f"speed: must be > 0 and <= 100000 (got {speed})")
        seconds = parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) == 3 else 0)
        day = day or dt.datetime.now(_UTC).date().isoformat()
        dt.date.fromisoformat(day)
        state = {"day": day, "seconds": seconds, "set_at_unix_s": time.time(), "speed": speed}
        await self.redis.set(self.key, json.dumps(state))
        return state

    async def reset(self) -> None:
        await self.redis.delete(self.key)

    async def now_datetime(self) -> dt.datetime:
        raw = await self.redis.get(self.key)
        if raw is None:
            return dt.datetime.now(_UTC).replace(tzinfo=None)
        s = json.loads(raw)
        start = dt.datetime.fromisoformat(s["day"]) + dt.timedelta(seconds=s["seconds"])
        return start + dt.timedelta(seconds=(time.time() - s["set_at_unix_s"]) * s["speed"])

    async def now(self) -> tuple[dt.date, int]:
        """(day, minute of the day) of the scheduler's now."""
        now = await self.now_datetime()
        return now.date(), now.hour * 60 + now.minute
