"""Bot API errors as Telegram returns them: ``{"ok": false, "error_code", "description"[, "parameters"]}``.

Handlers raise ``ApiError``; the app turns it into the JSON body with the same HTTP status, which is
what aiogram maps to ``TelegramBadRequest``, ``TelegramRetryAfter``, ``TelegramConflictError``…
"""

from __future__ import annotations


class ApiError(Exception):
    """One Bot API failure: HTTP status = error_code, Telegram's exact description text."""

    def __init__(self, error_code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict:
        out = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            out["parameters"] = self.parameters
        return out


def bad_request(what: str) -> ApiError:
    return ApiError(400, f"Bad Request: {what}")


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})


UNAUTHORIZED = ApiError(401, "Unauthorized")
NOT_FOUND = ApiError(404, "Not Found")
CHAT_NOT_FOUND = "chat not found"
CONFLICT_OTHER_POLLER = ApiError(
    409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
CONFLICT_WEBHOOK_ACTIVE = ApiError(
    409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
         "webhook first")
CONFLICT_SET_WEBHOOK = ApiError(409, "Conflict: terminated by setWebhook request")
