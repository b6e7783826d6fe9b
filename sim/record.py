"""The per-request record every sim component writes into: one flat row of the results table.

A plain ``__slots__`` class (not a dict, not a dataclass) because the SimPy hot path creates one
per request; ``botcap.sim.metrics`` turns a list of them into the per-request DataFrame. Components only
add to the fields named for them; times are simulated seconds.
"""

from __future__ import annotations

from math import nan

FIELDS = (
    "id", "kind", "instance", "chat_id", "is_digest", "is_duplicate",
    "arrival_s", "done_s", "ok", "error",
    # waits (queueing) per resource
    "wait_webhook_s", "wait_handler_s", "wait_cpu_s", "wait_db_pool_s", "wait_db_server_s",
    "wait_claude_semaphore_s", "wait_rate_limit_s", "wait_claude_backoff_s", "wait_telegram_send_s",
    # service (holding a resource / on the wire)
    "service_cpu_s", "service_db_s", "service_claude_s", "service_mcp_s", "service_telegram_s",
    # Claude call facts
    "claude_attempts", "claude_input_tokens", "claude_output_tokens",
    "claude_cache_read_tokens", "claude_cache_write_tokens",
    # digests: the time the user asked for and the time the scheduler planned (slot);
    # is_duplicate marks a second send of the same digest (scheduler in every instance, lock: none)
    "preferred_s", "planned_s",
)


class Request:
    """One user message or digest travelling through the model."""

    __slots__ = FIELDS

    def __init__(self, id: int, kind: str, arrival_s: float, chat_id: int = 0, is_digest: bool = False):
        self.id = id
        self.kind = kind
        self.instance = -1
        self.chat_id = chat_id
        self.is_digest = is_digest
        self.is_duplicate = False
        self.arrival_s = arrival_s
        self.done_s = nan
        self.ok = False
        self.error = ""
        self.wait_webhook_s = self.wait_handler_s = self.wait_cpu_s = 0.0
        self.wait_db_pool_s = self.wait_db_server_s = self.wait_claude_semaphore_s = 0.0
        self.wait_rate_limit_s = self.wait_claude_backoff_s = self.wait_telegram_send_s = 0.0
        self.service_cpu_s = self.service_db_s = self.service_claude_s = 0.0
        self.service_mcp_s = self.service_telegram_s = 0.0
        self.claude_attempts = 0
        self.claude_input_tokens = self.claude_output_tokens = 0
        self.claude_cache_read_tokens = self.claude_cache_write_tokens = 0
        self.preferred_s = self.planned_s = nan

    def as_tuple(self) -> tuple:
        return tuple(getattr(self, f) for f in FIELDS)
