"""`staging up` flags refused before any process starts: a stack is bounded on one machine."""

from __future__ import annotations

import pytest


@pytest.fixture
def nothing_starts(monkeypatch):
    import botcap.loadtest.staging.stack as stack

    class Refuse:
        def __init__(self, *a, **k):
            raise AssertionError("the staging stack started before its flags were checked")

    monkeypatch.setattr(stack, "StagingStack", Refuse)


@pytest.mark.parametrize("value", ["0", "-1", "33", "1000"])
def test_instances_outside_the_machines_bound_is_one_line(cli, nothing_starts, value):
    r = cli.bad("staging", "up", "--instances", value, names=("--instances", "1..32"))
    assert f"(got {value})" in r.err


@pytest.mark.parametrize("value", ["many", "1e3", "inf"])
def test_instances_that_are_not_a_whole_number_are_refused(cli, nothing_starts, value):
    r = cli.run("staging", "up", "--instances", value)
    assert r.code == 2 and "Traceback" not in r.err and "--instances" in r.err


def test_loadtest_runs_default_folder_is_checked_like_a_named_one(cli, monkeypatch, tmp_path):
    import botcap.loadtest.harness.run as run

    def refuse(*a, **k):
        raise AssertionError("the load test started before its default --out was checked")

    monkeypatch.setattr(run, "run_load", refuse)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").write_text("a file of the user's where runs/ would go")
    cli.bad("loadtest", "run", "--profile", "smoke", names=("--out", "runs"))
    assert (tmp_path / "runs").read_text() == "a file of the user's where runs/ would go"
