"""The one exit-code policy of every botcap command.

Errors are data until the CLI: library code raises ``BadInput`` with one line per problem;
``botcap.cli`` prints those lines to stderr and exits 2. Exit 1 is only ever "ran, a gate failed".
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2


class BadInput(Exception):
    """Input that cannot be used: each line names the path, the bad value and what is allowed."""

    def __init__(self, lines: str | list[str]):
        raw = [lines] if isinstance(lines, str) else list(lines)
        # one problem, one line: a stray newline (e.g. inside a YAML key) must not split it
        self.lines = [str(line).replace("\r", "\\r").replace("\n", "\\n") for line in raw]
        super().__init__("\n".join(self.lines))
