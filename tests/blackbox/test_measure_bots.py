"""Black-box measurement without a bot: a public webhook URL and no rewrite is refused with one line.

The three fixture bots (tests/fixtures/bots) are measured and calibrated in ``test_bot_ptb.py``,
``test_bot_aiogram.py`` and ``test_bot_streaming.py``: one ladder per bot, read by every test of its
module (real processes throughout: the fakes, the bot, Locust).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest
from blackbox_helpers import fakes, run_ladder, token_for

pytestmark = pytest.mark.services


def test_public_webhook_without_rewrite_is_refused_with_one_line(tmp_path):
    """setWebhook with a public URL (what aiogram's echo_bot_webhook.py does at start) is accepted, as
    Telegram does, so the bot starts (test_bot_aiogram.py's bot starts that way); without
    --webhook-rewrite the fake delivers nothing off this machine and the run refuses with one line."""
    token = token_for(555)
    with fakes(tmp_path) as f:
        body = urllib.parse.urlencode({"url": "https://bot.example.com/tg/hook"}).encode()
        with urllib.request.urlopen(f"{f.telegram_url}/bot{token}/setWebhook", data=body) as resp:
            assert json.loads(resp.read()) == {"ok": True, "result": True, "description": "Webhook was set"}
        with urllib.request.urlopen(f"{f.telegram_url}/bot{token}/getWebhookInfo") as resp:
            info = json.loads(resp.read())["result"]
        assert info["url"] == "https://bot.example.com/tg/hook" and "loopback" in info["last_error_message"]
        r = run_ladder(tmp_path / "run", f, None, arrivals="2@2", token=token)
        assert r.code == 2
        assert r.stderr.strip().splitlines() == [
            "--telegram-url: the bot set its webhook to https://bot.example.com/tg/hook, which the fake does "
            "not deliver to (not loopback): restart the fake with --webhook-rewrite http://127.0.0.1:PORT "
            "(your bot's local port)"]
        assert r.run["complete"] is False  # a new folder, marked incomplete: the gate refuses it
