"""The record of every message a bot sent: queryable, awaitable and streamable.

This is what a load generator times replies against: it notes ``last_sent_id`` when it injects an
update, then waits for the first record after it in the user's chat. Records are flat dicts (ready
for JSON and pandas) with ids increasing by one per bot.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable

Record = dict
Match = Callable[[Record], bool]


def matcher(chat_id: int | None, reply_to_message_id: int | None = None, method: str | None = None) -> Match:
    def match(rec: Record) -> bool:
        return ((chat_id is None or rec["chat_id"] == chat_id)
                and (reply_to_message_id is None or rec["reply_to_message_id"] == reply_to_message_id)
                and (method is None or rec["method"] == method))
    return match


class SentLog:
    """Records in id order, an index per chat, waiters (long-poll) and subscribers (SSE)."""

    def __init__(self, max_records: int):
        self.max_records = max_records
        self.records: list[Record] = []
        self.by_chat: dict[int, list[Record]] = {}
        self.last_id = 0
        # waiters indexed by chat (None = any chat) so that a record only wakes its own chat's waiters
        self._waiters: dict[int | None, list[tuple[int, Match, asyncio.Future]]] = {}
        self._subscribers: list[tuple[Match, asyncio.Queue]] = []

    def add(self, rec: Record) -> Record:
        self.last_id += 1
        rec["id"] = self.last_id
        self.records.append(rec)
        self.by_chat.setdefault(rec["chat_id"], []).append(rec)
        if len(self.records) > self.max_records:
            self._trim()
        if self._waiters:
            self._wake(rec["chat_id"], rec)
            self._wake(None, rec)
        for match, queue in self._subscribers:
            if match(rec):
                queue.put_nowait(rec)
        return rec

    def _wake(self, key: int | None, rec: Record) -> None:
        waiters = self._waiters.get(key)
        if not waiters:
            return
        keep = []
        for after_id, match, fut in waiters:
            if fut.done():
                continue
            if rec["id"] > after_id and match(rec):
                fut.set_result(rec)
            else:
                keep.append((after_id, match, fut))
        if keep:
            self._waiters[key] = keep
        else:
            del self._waiters[key]

    def _trim(self) -> None:
        drop = max(1, self.max_records // 10)
        cutoff = self.records[drop - 1]["id"]
        del self.records[:drop]
        for chat_id in list(self.by_chat):
            recs = self.by_chat[chat_id]
            i = bisect.bisect_right(recs, cutoff, key=lambda r: r["id"])
            if i == len(recs):
                del self.by_chat[chat_id]
            elif i:
                del recs[:i]

    def query(self, chat_id: int | None, after_id: int, match: Match,
              limit: int | None = None) -> list[Record]:
        recs = self.records if chat_id is None else self.by_chat.get(chat_id, [])
        start = bisect.bisect_right(recs, after_id, key=lambda r: r["id"])
        out = [r for r in recs[start:] if match(r)]
        return out if limit is None else out[:limit]

    async def wait(self, chat_id: int | None, after_id: int, match: Match, timeout_s: float) -> Record | None:
        """The first matching record with id > after_id, waiting up to ``timeout_s``; None on timeout."""
        found = self.query(chat_id, after_id, match, limit=1)
        if found:
            return found[0]
        fut = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(chat_id, [])
        waiters.append((after_id, match, fut))
        try:
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            return None
        finally:
            if not fut.done():
                fut.cancel()
            waiters = self._waiters.get(chat_id)
            if waiters is not None:
                waiters[:] = [w for w in waiters if not w[2].done()]
                if not waiters:
                    del self._waiters[chat_id]

    def subscribe(self, match: Match) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        self._subscribers.append((match, queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._subscribers = [(m, q) for m, q in self._subscribers if q is not queue]

    def close(self) -> None:
        """Wake every waiter empty-handed (reset / shutdown)."""
        for waiters in self._waiters.values():
            for _, _, fut in waiters:
                if not fut.done():
                    fut.set_result(None)
        self._waiters = {}
        for _, queue in self._subscribers:
            queue.put_nowait(None)
