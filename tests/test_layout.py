"""The test tree's own rules: pytest (prepend import mode) imports test files by basename."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_test_file_basenames_are_unique():
    names = Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert [n for n, k in names.items() if k > 1] == []


def test_no_test_folder_is_a_package_that_could_shadow_a_real_one():
    # tests/<pkg>/__init__.py would make "import <pkg>" resolve to the tests folder
    assert sorted(str(p.relative_to(TESTS)) for p in TESTS.rglob("__init__.py")) == []
