"""The ``costs:`` section of a scenario (unit economics; read by costmodel/).

Placeholder until the cost-model work fills it in: an empty, strict section.
"""

from __future__ import annotations

from botcap.scenario.base import Spec


class CostsSpec(Spec):
    """Tiers, prices, infrastructure plans and revenue (see costmodel/)."""
