"""``mark_unqueued``: with a work limit seen, only updates that found it free are service samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
from botcap.sim.calibrate.structure import mark_unqueued

NAN = np.nan


def _tl(rows: list[tuple]) -> pd.DataFrame:
    """rows: (taken, first_claude, last_claude_end, completed); NaN first_claude = no Claude call."""
    a = np.array(rows, dtype=float)
    return pd.DataFrame({"taken": a[:, 0], "first_claude": a[:, 1], "last_claude_end": a[:, 2],
                         "completed": a[:, 3], "has_claude": np.isfinite(a[:, 1])})


def test_an_update_taken_while_the_limit_is_held_is_queued():
    tl = _tl([(0.0, NAN, NAN, 1.0),      # holds [0, 1)
              (0.5, NAN, NAN, 2.0),      # one open at its take: free with a limit of 2
              (0.7, NAN, NAN, 2.5),      # two open: queued with a limit of 2, not with 3
              (3.0, NAN, NAN, 3.5)])     # nothing open
    assert mark_unqueued(tl, 2)["queued"].tolist() == [False, False, True, False]
    assert mark_unqueued(tl, 3)["queued"].tolist() == [False, False, False, False]
    assert mark_unqueued(tl, 1)["queued"].tolist() == [False, True, True, False]


def test_time_inside_claude_does_not_hold_the_limit_but_the_reply_after_it_does():
    tl = _tl([(0.0, 0.1, 5.0, 5.2),      # outside Claude: [0, 0.1) and [5, 5.2)
              (1.0, NAN, NAN, 1.5),      # taken while the first is inside Claude: free
              (5.1, NAN, NAN, 5.6),      # taken while the first sends its reply: queued (limit 1)
              (5.2, NAN, NAN, 5.3)])     # the first ended exactly then (it is not open), the third is
    q = mark_unqueued(tl, 1)["queued"].tolist()
    assert q == [False, False, True, True]


def test_an_update_never_taken_is_not_a_sample_and_the_input_is_not_changed():
    tl = _tl([(NAN, NAN, NAN, NAN), (0.0, NAN, NAN, 1.0)])
    out = mark_unqueued(tl, 1)
    assert out["queued"].tolist() == [True, False] and "queued" not in tl
