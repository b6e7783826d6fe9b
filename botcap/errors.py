"""The one exit-code policy of every botcap command.

Errors are data until the CLI: library code raises ``BadInput`` with one line per problem;
``botcap.cli`` prints those lines to stderr and exits 2. Exit 1 is only ever "ran, a gate failed":
``IncompleteBundle`` (a RunBundle that is well formed but cut short or empty: nothing to judge, so
a gate over it fails) is the one exception class that maps to it.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2


def _one_line_each(lines: str | list[str]) -> list[str]:
    raw = [lines] if isinstance(lines, str) else list(lines)
    # one problem, one line: a stray newline (e.g. inside a YAML key) must not split it
    return [str(line).replace("\r", "\\r").replace("\n", "\\n") for line in raw]


class BadInput(Exception):
    """Input that cannot be used: each line names the path, the bad value and what is allowed."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, lines: str | list[str]):
        self.lines = _one_line_each(lines)
        super().__init__("\n".join(self.lines))


class IncompleteBundle(Exception):
    """A well-formed RunBundle with nothing trustworthy to judge (run cut short, no requests).

    Exit 1, not 2: the input was readable and the run happened, but a gate over it must fail closed.
    """

    exit_code = EXIT_GATE_FAILED

    def __init__(self, lines: str | list[str]):
        self.lines = _one_line_each(lines)
        super().__init__("\n".join(self.lines))
