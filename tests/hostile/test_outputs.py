"""The output layer under hostile --out values: refused before any work, nothing of the user's touched.

"Before any work" is checked by replacing the engine with a function that fails the test: a path
refused only after the simulation ran would reach it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_helpers import MMC, snapshot

from botcap.errors import BadInput
from botcap.outdir import MARKER, atomic_dir, check_out_dir, owned_files


@pytest.fixture
def no_sim(monkeypatch):
    import botcap.sim.runner as runner

    def refuse(*a, **k):
        raise AssertionError("the simulation ran before --out was checked")

    monkeypatch.setattr(runner, "run", refuse)


@pytest.mark.parametrize("out, words", [
    (".", ("--out", "current folder")),
    ("..", ("--out", "current folder")),
    ("/", ("--out", "current folder")),
    ("/proc/x", ("--out", "/proc")),
    ("/sys/x", ("--out", "/sys")),
    ("/dev/x", ("--out", "/dev")),
    ("/proc", ("--out", "/proc")),
    ("", ("--out", "current folder")),   # typer reads an empty path as "."
])
def test_forbidden_out_paths_before_the_simulation(cli, no_sim, tmp_path: Path, monkeypatch, out, words):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    cli.bad("sim", "run", MMC, "--out", out, names=words)
    assert snapshot(tmp_path) == before


def test_out_is_an_existing_file(cli, no_sim, tmp_path: Path):
    f = tmp_path / "taken"
    f.write_text("keep me")
    cli.bad("sim", "run", MMC, "--out", f, names=("--out", "existing file"))
    assert f.read_text() == "keep me"


def test_out_under_a_file(cli, no_sim, tmp_path: Path):
    f = tmp_path / "taken"
    f.write_text("keep me")
    cli.bad("sim", "run", MMC, "--out", f / "sub", names=("--out", "not a writable directory"))


@pytest.mark.parametrize("command", [("sim", "run", str(MMC)), ("cost", "--draws", "0")])
def test_a_folder_botcap_did_not_write_is_never_replaced(cli, no_sim, tmp_path: Path, command):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    (out / "summary.json").write_text("my own summary")
    before = snapshot(tmp_path)
    cli.bad(*command, "--out", out, names=("--out", "did not write", MARKER))
    assert snapshot(tmp_path) == before


def test_a_forged_marker_does_not_let_botcap_delete_outside(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "victim.txt").write_text("keep")
    (out / MARKER).write_text('{"written_by": "botcap", "files": ["../victim.txt", "/etc/passwd", 3]}')
    assert owned_files(out) == set()
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("new")
    assert (tmp_path / "victim.txt").read_text() == "keep"
    assert (out / "a.txt").read_text() == "new"


def test_rerun_replaces_only_botcaps_own_files(tmp_path: Path):
    out = tmp_path / "out"
    with atomic_dir(out, command="test") as tmp:
        (tmp / "a.txt").write_text("1")
        (tmp / "old_only.txt").write_text("1")
        (tmp / "plots").mkdir()
        (tmp / "plots" / "p.png").write_text("1")
    (out / "notes.txt").write_text("the user's")
    with atomic_dir(out, command="test") as tmp:
        (tmp / "a.txt").write_text("2")
        (tmp / "plots").mkdir()
        (tmp / "plots" / "p.png").write_text("2")
    assert (out / "a.txt").read_text() == "2" and (out / "plots" / "p.png").read_text() == "2"
    assert not (out / "old_only.txt").exists()               # botcap's, not written this time: gone
    assert (out / "notes.txt").read_text() == "the user's"    # the user's: kept
    assert owned_files(out) == {"a.txt", "plots/p.png"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_user_file_named_like_a_new_output_is_not_overwritten(tmp_path: Path):
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("1")
    (out / "b.txt").write_text("the user's")
    with pytest.raises(BadInput, match="b.txt was not written by botcap"):
        with atomic_dir(out) as tmp:
            (tmp / "a.txt").write_text("2")
            (tmp / "b.txt").write_text("botcap's")
    assert (out / "b.txt").read_text() == "the user's" and (out / "a.txt").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failure_inside_leaves_nothing(tmp_path: Path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "a.txt").write_text("1")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_an_empty_existing_folder_is_filled(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    assert check_out_dir(out) == out
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("1")
    assert (out / "a.txt").read_text() == "1" and owned_files(out) == {"a.txt"}


def test_sigterm_while_writing_cleans_up_like_ctrl_c(tmp_path: Path):
    out = tmp_path / "out"
    code = ("import sys, time\nfrom botcap.outdir import atomic_dir\n"
            f"with atomic_dir({str(out)!r}) as tmp:\n"
            "    (tmp / 'half.parquet').write_text('x')\n"
            "    print('ready', flush=True)\n    time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert list(tmp_path.iterdir()) == []   # neither out nor a hidden .out.partial-* folder


def test_sim_run_writes_and_a_rerun_keeps_the_users_file(cli, tmp_path: Path):
    out = tmp_path / "res"
    args = ("sim", "run", MMC, "--hours", "0.2", "--replications", "1", "--out", out, "--json")
    assert cli.run(*args).code == 0
    (out / "notes.txt").write_text("mine")
    first = (out / "summary.json").stat().st_mtime_ns
    time.sleep(0.01)
    assert cli.run(*args).code == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "summary.json").stat().st_mtime_ns >= first and (out / MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere: permissions cannot refuse it")
def test_unwritable_parent(cli, no_sim, tmp_path: Path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    cli.bad("sim", "run", MMC, "--out", locked / "x", names=("--out", "not a writable directory"))


@pytest.mark.parametrize("kind, words", [("dangling", ("--out", "dangling symlink")),
                                         ("loop", ("--out", "cannot use"))])
def test_out_as_a_broken_link(cli, no_sim, tmp_path: Path, kind, words):
    link = tmp_path / "link"
    if kind == "dangling":
        link.symlink_to(tmp_path / "nowhere")
    else:
        link.symlink_to(tmp_path / "loop2")
        (tmp_path / "loop2").symlink_to(link)
    cli.bad("sim", "run", MMC, "--out", link, names=words)
    assert link.is_symlink()   # the user's link is still there
