"""A fake Telegram Bot API on loopback: Telegram's routes, payloads, errors and send limits, plus control
routes to inject updates and to read, await or stream every message a bot sent.

Run it with ``python -m botcap.loadtest.fakes.telegram`` or embed ``create_app(config)`` in an aiohttp runner.
"""

from botcap.loadtest.fakes.telegram.app import create_app
from botcap.loadtest.fakes.telegram.config import TelegramFakeConfig
from botcap.loadtest.fakes.telegram.control import FAKE_KEY

__all__ = ["create_app", "TelegramFakeConfig", "FAKE_KEY"]
