"""``botcap report`` refuses bad input at once: one line naming the option, exit 2, nothing touched."""

from __future__ import annotations

import pytest

from botcap.cli import main


def _bad(capsys, argv: list[str], needle: str) -> str:
    assert main(["report", *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--workers", "0"], "--workers"),
        (["--workers", "many"], "workers"),
        (["--seed", "-1"], "--seed"),
        (["--set", "workload.dau=-5"], "workload.dau"),
        (["--set", "platform.nonsense=1"], "nonsense"),
        (["--set", "novalue"], "novalue"),
        (["--no-such-option"], "no-such-option"),
        (["--dask", "http://example.com"], "--dask"),
    ],
)
def test_bad_options(capsys, tmp_path, argv, needle):
    _bad(capsys, [*argv, "--out", str(tmp_path / "r")], needle)
    assert not (tmp_path / "r").exists()


def test_missing_and_garbage_scenario_files(capsys, tmp_path):
    _bad(capsys, [str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "r")], "nope.yaml")
    garbage = tmp_path / "garbage.yaml"
    garbage.write_bytes(b"\x00\xff: [unclosed\n")
    assert main(["report", str(garbage), "--out", str(tmp_path / "r")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_out_that_is_a_file_is_left_alone(capsys, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("mine")
    _bad(capsys, ["--out", str(f)], "--out")
    assert f.read_text() == "mine"


def test_out_folder_of_someone_else_is_left_alone(capsys, tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    (d / "cat.jpg").write_bytes(b"\xff\xd8")
    _bad(capsys, ["--out", str(d)], "--out")
    assert [p.name for p in d.iterdir()] == ["cat.jpg"]


def test_cache_folder_of_someone_else_is_left_alone(capsys, tmp_path):
    d = tmp_path / "thesis"
    d.mkdir()
    (d / "draft.tex").write_text("x")
    _bad(capsys, ["--cache", str(d), "--out", str(tmp_path / "r")], "--cache")
    assert [p.name for p in d.iterdir()] == ["draft.tex"]
    assert not (tmp_path / "r").exists()


def test_the_printed_summary_gives_each_sections_seconds(quick_json):
    from botcap.report.cli import summary_lines

    lines = summary_lines(quick_json)
    seconds = quick_json["section_build_s"]
    assert set(seconds) == set(quick_json["order"]) and all(s >= 0 for s in seconds.values())
    for sid, line in zip(quick_json["order"], lines, strict=False):
        assert line.startswith(f"  {sid} ({seconds[sid]:g} s): ")
    by_time = lines[-1].removeprefix("seconds per section: ").split(", ")
    assert [float(p.split()[1]) for p in by_time] == sorted(seconds.values(), reverse=True)
    assert sum(seconds.values()) <= quick_json["build_s"] + 0.1 * len(seconds)  # rounded to 0.1 s each
