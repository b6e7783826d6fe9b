"""botcap: capacity planning and load simulation for a Telegram LLM bot platform.

This package holds what the three engines share: the scenario schema (``botcap.scenario``),
distribution sampling (``botcap.sampling``), the exit-code policy (``botcap.errors``) and the CLI.
"""

__version__ = "0.1.0"
