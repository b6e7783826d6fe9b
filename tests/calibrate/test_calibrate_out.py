"""`botcap calibrate --out FILE` never replaces what botcap did not write, and says so before any work.

A file of the user's under that name, or a NAME.plots/ folder holding the user's files, is refused
with exit 2 and left as it was; a calibrated scenario from an earlier run (its first line is the
writer's header) and its plots folder are replaced, as re-running should.
"""

from __future__ import annotations

import time
from pathlib import Path

from botcap.sim.calibrate.writer import HEADER
from test_calibrate_cli import botcap

from botcap.outdir import MARKER

ARGS = ("--holdout", "1,3,5", "--replications", "1", "--bootstrap", "0")


def _calibrate(bundle: Path, out: Path) -> tuple[int, float, str]:
    t0 = time.perf_counter()
    code, _stdout, err = botcap("calibrate", str(bundle), *ARGS, "--out", str(out))
    return code, time.perf_counter() - t0, err


def test_a_users_file_is_refused_before_any_work_and_kept(ladder_bundle, tmp_path: Path):
    out = tmp_path / "mine.yaml"
    out.write_text("my notes, not a scenario\n")
    code, seconds, err = _calibrate(ladder_bundle, out)
    assert code == 2 and "--out" in err and "not written by botcap" in err and len(err.splitlines()) == 1
    assert out.read_text() == "my notes, not a scenario\n"
    assert not (tmp_path / "mine.plots").exists()
    assert seconds < 5  # refused up front, not after the fit and the replays


def test_a_plots_folder_of_the_users_is_refused_and_kept(ladder_bundle, tmp_path: Path):
    (tmp_path / "cal.plots").mkdir()
    (tmp_path / "cal.plots" / "photo.png").write_bytes(b"mine")
    code, _, err = _calibrate(ladder_bundle, tmp_path / "cal.yaml")
    assert code == 2 and "NAME.plots" in err and "botcap did not write" in err
    assert not (tmp_path / "cal.yaml").exists()
    assert (tmp_path / "cal.plots" / "photo.png").read_bytes() == b"mine"


def test_botcaps_own_output_is_replaced_on_a_rerun_and_a_users_file_beside_it_stays(ladder_bundle,
                                                                                    tmp_path: Path):
    out = tmp_path / "cal.yaml"
    assert _calibrate(ladder_bundle, out)[0] == 0
    assert out.read_text().startswith(HEADER) and (tmp_path / "cal.plots" / MARKER).is_file()
    (tmp_path / "cal.plots" / "my-notes.txt").write_text("keep me")
    out.write_text(out.read_text() + "# a later run rewrites this file\n")
    assert _calibrate(ladder_bundle, out)[0] == 0
    assert "a later run rewrites" not in out.read_text()
    assert (tmp_path / "cal.plots" / "my-notes.txt").read_text() == "keep me"
    assert sorted(p.suffix for p in (tmp_path / "cal.plots").glob("*.png"))  # the plots are there


def test_out_that_is_a_folder_or_under_proc_is_one_line(ladder_bundle, tmp_path: Path):
    for bad, what in ((tmp_path, "not a plain file name"), (Path("/proc/x.yaml"), "/proc"),
                      (tmp_path / "missing" / "x.yaml", "does not exist")):
        code, _, err = _calibrate(ladder_bundle, bad)
        assert code == 2 and what in err and len(err.splitlines()) == 1, (bad, err)
