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


def _held(x_per_s: float, limit: int = 2, *, past_knee: bool = True,
          claude_s: float | None = None) -> tuple[float, list[str]]:
    from botcap.sim.calibrate.blackbox import ASSUMED_RTT_S, BlackboxFits, _held_excess

    fits = BlackboxFits()
    s = {"work_outside_claude": {"completions_per_s": x_per_s},
         "levels": [{"level": 0, "rate_per_s": 3.0, "past_knee": False},
                    {"level": 1, "rate_per_s": 20.0, "past_knee": past_knee}]}
    good = pd.DataFrame({"kind": ["a"] * 4 + ["b"] * 4, "post_s": 0.0, "claude_s": claude_s or 0.0,
                         "pre_s": np.array([0.1] * 4 + [0.2] * 4) + ASSUMED_RTT_S})
    tl = pd.DataFrame({"kind": ["a", "b", "b", "a"], "level": [1, 1, 1, 1]})   # half and half at the knee
    return _held_excess(fits, s, good, tl, limit, with_claude=claude_s is not None), fits.notes


def test_the_time_beside_a_limit_is_what_the_knee_did_not_hold():
    # 0.15 s at low load at the knee's mix; a limit of 2 held at 16/s: 0.125 s per update, 25 ms beside it
    excess, notes = _held(16.0)
    assert abs(excess - 0.025) < 1e-9 and "25.0 ms per update taken off" in notes[0]
    assert _held(10.0) == (0.0, [])           # a knee slower than the samples: nothing added
    assert abs(_held(1000.0)[0] - 0.05) < 1e-9   # never more than half the shortest kind's 0.1 s
    assert _held(16.0, past_knee=False) == (0.0, [])   # no knee, no Little's law


def test_a_one_at_a_time_bot_holds_its_loop_through_the_claude_call():
    # 0.15 s outside Claude + 0.25 s inside at low load; the knee at 2.6/s: 0.385 s per update, 15 ms less
    excess, notes = _held(2.6, 1, claude_s=0.25)
    assert abs(excess - (0.4 - 1 / 2.6)) < 1e-9 and "the limit of 1 was held 384.6 ms" in notes[0]
    assert _held(2.4, 1, claude_s=0.25)[0] == 0.0   # the knee's updates took longer: nothing taken off


def test_replay_takes_the_first_text_delays_from_calibrations_own_samples(tmp_path):
    """``sim replay``'s streaming delays (``_first_reply_delays``) skip the updates that found the work
    limit held, as calibration's do: the same samples, not the whole quietest level (at 10/s some updates
    met the pool of 2 full). Before, the replay took every row of that level."""
    from pathlib import Path

    from botcap.sim.calibrate.blackbox import fit_blackbox
    from botcap.sim.calibrate.bundles import read_bundle
    from botcap.sim.calibrate.replay_bundle import _first_reply_delays
    from botcap.sim.calibrate.structure import _service_rows
    from botcap.sim.calibrate.synthetic_blackbox import write_blackbox_bundle
    from botcap.sim.calibrate.timeline import timeline

    from botcap.scenario import load_scenario

    truth = load_scenario(Path(__file__).parents[1] / "calibrate" / "blackbox_pool_stream.yaml")
    out = write_blackbox_bundle(truth, [(10, 12), (20, 8), (30, 8), (50, 8), (70, 8)], tmp_path / "b",
                                seed=3, warmup_s=3, stream_kinds=("ask",))
    b = read_bundle(out)
    fits = fit_blackbox([b], b.levels, b.scenario)
    assert fits.structure["work_outside_claude"]["limit"] == 2
    replayed = _first_reply_delays(b)["ask"]
    assert sorted(replayed) == sorted(fits.first_reply["ask"])
    assert len(replayed) < len(_service_rows(timeline(b), b, None))   # some did meet a full pool
