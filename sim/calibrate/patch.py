"""Scenario patches: the dotted keys calibration sets, entered into a scenario document.

Why its own module: every fitter (the reference bot's stages, a black box's timelines) writes the same
nested patch, and the output scenario, the replay and the predicted view (``loadtest``) apply it alike.
"""

from __future__ import annotations

__all__ = ["set_key", "apply_patch"]


def set_key(patch: dict, dotted: str, value) -> None:
    """``patch`` with ``value`` at ``dotted`` (``"platform.db.query_s"``), the maps on the way created."""
    keys = dotted.split(".")
    node = patch
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value


def apply_patch(doc: dict, patch: dict) -> dict:
    """``doc`` with ``patch``'s leaves set (a copy). Unlike the loader's merge, maps keyed by the user's
    names (kinds, models) are entered, not replaced; a distribution (a dict with ``dist``) is a leaf."""
    out = dict(doc)
    for key, value in patch.items():
        if isinstance(value, dict) and "dist" not in value and isinstance(out.get(key), dict):
            out[key] = apply_patch(out[key], value)
        else:
            out[key] = value
    return out
