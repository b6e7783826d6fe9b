"""The one loopback test of loadtest/: fakes, the staging bot and the generator refuse other hosts.

Load tests and the staging stack send traffic only to this machine unless a flag names a host; every
check of "is this address on this machine" goes through ``is_loopback_host`` so that they agree.
"""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback_host"]


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1, ``[::1]``, a zone id allowed)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False
