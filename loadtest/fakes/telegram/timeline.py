"""What the fake saw a bot do, in time order: the black-box timeline of a bot botcap did not write.

One row per event (``docs/runbundle.md``, ``telegram_log.parquet``): ``take`` (an update handed to the
bot by a getUpdates answer or a webhook POST), ``send`` (a method that put text in a chat), ``edit``,
``action`` (sendChatAction: recorded, never a reply) and ``other``. The load harness reads it through
``GET /_fake/bot<token>/log?after=N`` at the end of a run and joins it with its own requests; the bot
needs no change. Rows are flat dicts (JSON and pandas ready), capped like the sent record.
"""

from __future__ import annotations

# methods whose success puts text (or a caption) in a chat: a reply, whatever the framework calls it
SEND_METHODS = frozenset(m.lower() for m in (
    "sendMessage", "copyMessage", "forwardMessage", "sendPhoto", "sendDocument", "sendVideo",
    "sendAudio", "sendAnimation", "sendVoice"))
EDIT_METHODS = frozenset(m.lower() for m in ("editMessageText", "editMessageCaption"))
ACTION_METHODS = frozenset({"sendchataction"})
NOT_LOGGED = frozenset({"getupdates"})  # its answers are logged as takes, one per update


def event_of(method: str) -> str | None:
    m = method.lower()
    if m in SEND_METHODS:
        return "send"
    if m in EDIT_METHODS:
        return "edit"
    if m in ACTION_METHODS:
        return "action"
    if m in NOT_LOGGED:
        return None
    return "other"


def update_ids(update: dict) -> tuple[int | None, int | None]:
    """(chat_id, message_id) of an update: its message, or the message under a callback query."""
    for key in ("message", "edited_message"):
        msg = update.get(key)
        if isinstance(msg, dict):
            return (msg.get("chat") or {}).get("id"), msg.get("message_id")
    query = update.get("callback_query")
    if isinstance(query, dict):
        msg = query.get("message")
        if isinstance(msg, dict):
            return (msg.get("chat") or {}).get("id"), msg.get("message_id")
        return (query.get("from") or {}).get("id"), None
    return None, None


class Timeline:
    """The rows of one bot; ``after(n)`` pages them by position (a reader keeps its offset)."""

    def __init__(self, max_rows: int):
        self.max_rows = max_rows
        self.rows: list[dict] = []
        self.dropped = 0  # rows forgotten at the front (the cap): positions stay stable

    def _add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) > self.max_rows:
            cut = max(1, self.max_rows // 10)
            del self.rows[:cut]
            self.dropped += cut

    def take(self, update: dict, via: str, at: float, done_at: float | None = None,
             http_status: int = 200) -> None:
        chat_id, message_id = update_ids(update)
        self._add({"at": at, "event": "take", "method": via, "via": via, "update_id": update.get("update_id"),
                   "chat_id": chat_id, "message_id": message_id, "text_len": None,
                   "http_status": http_status, "done_at": at if done_at is None else done_at})

    def call(self, method: str, params: dict, result, status: int, at: float) -> None:
        """One Bot API call; sends and edits name the chat, the bot's message and its text length."""
        event = event_of(method)
        if event is None:
            return
        chat_id = message_id = text_len = None
        if isinstance(result, dict) and isinstance(result.get("chat"), dict):
            chat_id, message_id = result["chat"].get("id"), result.get("message_id")
            text = result.get("text", result.get("caption"))
            text_len = len(text) if isinstance(text, str) else None
        else:
            raw = params.get("chat_id")
            try:
                chat_id = int(raw) if raw is not None else None
            except (TypeError, ValueError):
                chat_id = None
            if isinstance(result, dict):
                message_id = result.get("message_id")
        self._add({"at": at, "event": event, "method": method, "via": None, "update_id": None,
                   "chat_id": chat_id, "message_id": message_id, "text_len": text_len,
                   "http_status": status, "done_at": at})

    def after(self, position: int, limit: int) -> tuple[list[dict], int]:
        """Rows from absolute ``position`` on (at most ``limit``) and the next position to ask for."""
        start = max(0, position - self.dropped)
        rows = self.rows[start:start + limit]
        return rows, self.dropped + start + len(rows)
