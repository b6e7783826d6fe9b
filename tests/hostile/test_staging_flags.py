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
