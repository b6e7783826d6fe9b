"""``structure._retries``: a failed Claude call followed by the same request's next call is a retry."""

from __future__ import annotations

import pandas as pd
import pytest
from botcap.sim.calibrate.structure import _retries


def test_retries_are_counted_per_request_in_arrival_order_with_their_spacing():
    calls = pd.DataFrame({   # (request, arrived, ended, ok): rows out of order on purpose
        "request_id": ["a", "b", "a", "a", "c", None],
        "arrived_at": [2.0, 0.0, 0.0, 5.0, 1.0, 3.0],
        "ended_at": [2.5, 0.5, 1.0, 5.5, 1.2, 3.1],
        "ok": [False, True, False, True, False, False],
        "status": [529, 200, 529, 200, 500, 529]})
    r = _retries(calls)
    # a: fails at 1.0, again at 2.0 (1.0 s later), fails at 2.5, again at 5.0 (2.5 s); c fails, no retry;
    # the unlinked call is no request's
    assert r["seen"] and r["retried"] == 2 and r["failed_calls"] == 3 and r["max_attempts_seen"] == 3
    assert r["spacing_s"]["min"] == pytest.approx(1.0) and r["spacing_s"]["max"] == pytest.approx(2.5)
    assert r["statuses"] == {"529": 3, "200": 2, "500": 1}


def test_no_linked_call_is_no_retry():
    calls = pd.DataFrame({"request_id": [None], "arrived_at": [0.0], "ended_at": [1.0], "ok": [False],
                          "status": [529]})
    r = _retries(calls)
    assert not r["seen"] and r["retried"] == 0 and r["max_attempts_seen"] == 0
