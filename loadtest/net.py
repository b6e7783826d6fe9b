"""The one loopback test of loadtest/: fakes, the staging bot and the generator refuse other hosts.

Load tests and the staging stack send traffic only to this machine unless a flag names a host; every
check of "is this address on this machine" goes through ``is_loopback_host`` so that they agree.
"""

from __future__ import annotations

from botcap.inputs import is_loopback_host  # one predicate for botcap's input layer and loadtest/

__all__ = ["is_loopback_host"]
