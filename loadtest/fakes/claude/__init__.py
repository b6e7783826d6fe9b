"""A fake Anthropic Messages API for load tests.

Real routes, payloads, SSE, usage, rate limits, prompt caching, faults and a latency model.

Point the real ``anthropic`` SDK at it with ``base_url``; see
``python -m botcap.loadtest.fakes.claude --help``.
"""

from botcap.loadtest.fakes.claude.app import FakeClaude, create_app
from botcap.loadtest.fakes.claude.config import (
           ClaudeFakeConfig,
           FaultSpec,
           ModelSpec,
           OutageSpec,
           RateLimitSpec,
)

__all__ = ["create_app", "FakeClaude", "ClaudeFakeConfig", "ModelSpec", "RateLimitSpec", "FaultSpec",
           "OutageSpec"]
