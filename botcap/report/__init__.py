"""``botcap report``: one page answering the architects' and planners' questions from the numbers.

Library first: ``build_report(scenario) -> (report dict, plots)`` and ``write_report``; each section
(``sections_*``) asks ``botcap.report.variants.summaries`` for simulated variants and the cost model
for prices, and derives its recommendation by a stated rule (``botcap.report.rules``).
"""

from __future__ import annotations

__all__ = ["build_report", "write_report"]


def __getattr__(name: str):
    if name in __all__:
        from botcap.report import build

        return getattr(build, name)
    raise AttributeError(f"module 'botcap.report' has no attribute {name!r}")
