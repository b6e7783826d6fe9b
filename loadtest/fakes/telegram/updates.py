"""Pending updates of one bot and ``getUpdates`` on them: offset confirmation, limit, long-poll, conflicts.

As on Telegram: an update stays pending until a later ``getUpdates`` confirms it with an offset above
its id (a negative offset keeps only the last ``-offset`` updates); a long poll waits up to
``timeout`` seconds for the first update; a second ``getUpdates`` while one is waiting terminates the
earlier one with 409. Updates whose type is not in ``allowed_updates`` are dropped, and by default
``chat_member``, ``message_reaction`` and ``message_reaction_count`` are not delivered.
"""

from __future__ import annotations

import asyncio
import itertools

from botcap.loadtest.fakes.telegram.errors import CONFLICT_OTHER_POLLER, ApiError

DEFAULT_EXCLUDED = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


def update_type(update: dict) -> str | None:
    for key in update:
        if key != "update_id":
            return key
    return None


class UpdateQueue:
    """Updates not yet confirmed (polling) or not yet accepted by the webhook, in id order."""

    def __init__(self):
        self.pending: dict[int, dict] = {}
        self.last_update_id = 0
        self.allowed_updates: list[str] | None = None
        self._arrived = asyncio.Event()
        self._poller: asyncio.Future | None = None  # resolves with an ApiError to end the current poll

    # ------------------------------------------------------------------ producing
    def next_id(self) -> int:
        return self.last_update_id + 1

    def allowed(self, update: dict) -> bool:
        kind = update_type(update)
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in DEFAULT_EXCLUDED

    def push(self, update: dict) -> bool:
        """Queue an update (its ``update_id`` already set); False if allowed_updates filters it out."""
        self.last_update_id = max(self.last_update_id, update["update_id"])
        if not self.allowed(update):
            return False
        self.pending[update["update_id"]] = update
        self._arrived.set()
        return True

    def drop_all(self) -> None:
        self.pending.clear()

    # ------------------------------------------------------------------ getUpdates
    def confirm(self, offset: int) -> None:
        # ``pending`` is in id order: ids only ever increase (inject refuses a smaller one)
        if offset > 0:
            while self.pending and next(iter(self.pending)) < offset:
                del self.pending[next(iter(self.pending))]
        elif offset < 0:
            keep = list(self.pending)[offset:]
            self.pending = {u: self.pending[u] for u in keep}

    def take(self, limit: int) -> list[dict]:
        return list(itertools.islice(self.pending.values(), limit))

    def terminate_poller(self, error: ApiError | None) -> None:
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(error)

    async def get_updates(self, offset: int, limit: int, timeout_s: float) -> list[dict]:
        """One getUpdates call; raises ApiError(409) when a newer call (or setWebhook) ends this one."""
        self.terminate_poller(CONFLICT_OTHER_POLLER)
        self.confirm(offset)
        found = self.take(limit)
        if found or timeout_s <= 0:
            return found
        loop = asyncio.get_running_loop()
        me = self._poller = loop.create_future()
        deadline = loop.time() + timeout_s
        try:
            while True:
                self._arrived.clear()
                arrived = asyncio.ensure_future(self._arrived.wait())
                done, _ = await asyncio.wait({arrived, me}, timeout=max(0.0, deadline - loop.time()),
                                             return_when=asyncio.FIRST_COMPLETED)
                arrived.cancel()
                if me in done:
                    if me.result() is None:  # shutting down / reset: an empty answer
                        return []
                    raise me.result()
                found = self.take(limit)
                if found or loop.time() >= deadline:
                    return found
        finally:
            if self._poller is me:
                self._poller = None

    @property
    def polling(self) -> bool:
        return self._poller is not None and not self._poller.done()
