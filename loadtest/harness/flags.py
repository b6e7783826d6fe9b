"""Every ``botcap loadtest run`` flag checked before anything is started or created.

Why a separate step: a bad flag found after the staging stack started (``--duration inf`` crashing
in Locust, ``--rate 0.000001`` sending nothing, ``--telegram-url ftp://x``) leaves processes to
stop and an empty or ``complete: false`` bundle behind. ``check_run_flags`` runs first and raises
``BadInput`` (exit 2, one line naming the flag and what is allowed) without touching the disk.

The loopback rule (``botcap.inputs.require_loopback``): load goes to this machine only. A URL whose
host is not loopback is refused unless ``--allow-host HOST`` names that host exactly (then one
warning line). A target that refuses connections is refused here too, in seconds, before a bundle
exists: a TCP connect to each given URL's host and port, and, for an external bot behind the fake
Telegram API (``--telegram-url`` without ``--target``), to the webhook the fake delivers to.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from botcap.errors import BadInput
from botcap.inputs import check_out_path, clip, require_loopback, short

__all__ = ["LIMITS", "check_run_flags"]

# bounds of a load test on one machine (loopback): bounded in time and count, and enough to measure
LIMITS = {
    "rate_per_s": (0.01, 1000.0),     # arrivals per second
    "duration_s": (1.0, 4 * 3600.0),  # seconds of load
    "users": (1, 10_000),
    "workers": (0, 64),
    "instances": (1, 32),
}
CONNECT_TIMEOUT_S = 3.0
_TOKEN = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{1,200}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def _number(flag: str, value, lo: float, hi: float, unit: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadInput(f"{flag}: must be a finite number of {unit} (got {clip(str(value))})")
    if not lo <= value <= hi:
        raise BadInput(f"{flag}: must be between {lo:g} and {hi:g} {unit} (got {value:g})")


def _reachable(flag: str, url: str) -> None:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        why = "connection refused" if isinstance(e, ConnectionRefusedError) else (e.strerror or str(e))
        raise BadInput(f"{flag}: nothing answers at {parts.hostname}:{port} ({why}); start it first") \
            from None


def _fake_webhook(telegram_url: str, token: str) -> str | None:
    """Where the fake Telegram API delivers this bot's updates (None: the bot polls)."""
    url = f"{telegram_url.rstrip('/')}/_fake/bot{token}/stats"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # loopback: never via a proxy
    try:
        with opener.open(url, timeout=CONNECT_TIMEOUT_S) as r:
            stats = json.loads(r.read(1_000_000))["result"]
        # where the fake really POSTs ("" = a public URL it accepted but never delivers to: the harness
        # explains that with --webhook-rewrite); webhook_url only from a fake without the key
        hook = stats["webhook_delivers_to"] if "webhook_delivers_to" in stats else stats.get("webhook_url")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise BadInput(f"--telegram-url: {clip(telegram_url)} does not answer as the fake Telegram API "
                       f"(python -m botcap.loadtest.fakes.telegram) for this --bot-token ({short(str(e))})") \
            from None
    return hook if isinstance(hook, str) and hook else None


def check_run_flags(*, target: str | None = None, telegram_url: str | None = None,
                    claude_url: str | None = None, allow_host: str | None = None,
                    bot_token: str | None = None, secret: str | None = None, seed: int | None = None,
                    baseline: Path | None = None,
                    rate: float | None = None, duration: float | None = None, users: int | None = None,
                    workers: int = 0, instances: int = 1, out: Path | None = None,
                    default_load_s: float | None = None, probe: bool = True) -> None:
    """Raise BadInput for the first flag that cannot be used (see the module docstring).

    ``default_load_s``: the profile's own length of load, used when ``--rate`` is given without
    ``--duration`` (a rate so low that not one arrival is expected in the run is refused).
    ``probe``: connect to each URL given (False in unit tests of the pure checks).
    """
    if rate is not None:
        _number("--rate", rate, *LIMITS["rate_per_s"], "arrivals per second")
    if duration is not None:
        _number("--duration", duration, *LIMITS["duration_s"], "seconds")
    if users is not None:
        _number("--users", users, *LIMITS["users"], "users")
    _number("--workers", workers, *LIMITS["workers"], "worker processes")
    _number("--instances", instances, *LIMITS["instances"], "bot instances")
    if seed is not None and not 0 <= seed < 2**32:
        raise BadInput(f"--seed: must be a whole number from 0 to {2**32 - 1} (got {seed})")
    if bot_token is not None and not _TOKEN.match(bot_token):
        raise BadInput(f"--bot-token: must look like Telegram's 123456:ABC-def_1 (digits, ':', then letters, "
                       f"digits, '_' or '-'; got {clip(bot_token)})")
    if secret is not None and not _SECRET.match(secret):
        raise BadInput("--secret: must be 1-256 characters of A-Z, a-z, 0-9, '_' and '-' (Telegram's "
                       f"secret_token; got {clip(secret)})")
    length = duration if duration is not None else default_load_s
    if rate is not None and length is not None and rate * length < 1:
        raise BadInput(f"--rate: {rate:g}/s over {length:g} s expects no arrival at all "
                       f"(rate x duration must be >= 1)")
    urls = [(flag, url) for flag, url in (("--target", target), ("--telegram-url", telegram_url),
                                          ("--claude-url", claude_url)) if url is not None]
    hosts = [require_loopback(url, allow_host, flag=flag) for flag, url in urls]
    if allow_host is not None and allow_host.strip().lower().strip("[]") not in [h.lower() for h in hosts]:
        raise BadInput(f"--allow-host: {clip(allow_host)} is not the host of any --target, --telegram-url "
                       "or --claude-url given")
    if out is not None:
        p = check_out_path(out)
        if p.is_dir() and any(os.scandir(p)):
            raise BadInput(f"--out: {clip(str(out))} is not empty "
                           "(a RunBundle goes into a new or empty folder)")
    if baseline is not None:   # malformed: exit 2 now, not after the load ran (incomplete: the gate fails)
        from botcap.loadtest.harness.validate import validate_bundle

        validate_bundle(baseline, allow_incomplete=True)
    if probe:
        for flag, url in urls:
            _reachable(flag, url)
        if telegram_url is not None and target is None and bot_token:
            # an external bot behind the fake: the fake delivers to its webhook; that must answer too
            hook = _fake_webhook(telegram_url, bot_token)
            if hook is not None:
                flag = "--telegram-url (the bot's webhook)"
                require_loopback(hook, allow_host, flag=flag)
                _reachable(flag, hook)
