"""``<layer>_linear`` activations that hls4ml inserts default to ``fixed<16,6>`` and truncate outputs.

hls4ml inserts them after layers with a linear activation and removes them again only when the
types already match, so the first conversion may not show the ones the final one keeps: every
layer that can carry one gets the entry, with its producer's final type.
"""

from __future__ import annotations

from typing import Any

from deepsets_trigger.convert.fixes import Fix, FixContext, LayerTypes, set_type
from deepsets_trigger.precision import parse_precision


def fix_linear_passthrough(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    notes = []
    for layer in graph.values():
        if not layer.has_weights or f"{layer.name}_linear" in ctx.user_results:
            continue
        chosen = config.get("LayerName", {}).get(layer.name, {}).get("Precision", {})
        text = chosen.get("result") if isinstance(chosen, dict) else None
        t = parse_precision(text) if text and text != "auto" else layer.result
        if t is None:
            continue
        set_type(config, f"{layer.name}_linear", "result", t)
        if text and text != "auto":
            notes.append(f"linear '{layer.name}_linear' passes {layer.name}'s type {t.ap()} through")
    return notes


FIX = Fix(
    name="linear_passthrough",
    phase="config",
    summary="inserted <layer>_linear activations default to fixed<16,6> and truncate the outputs",
    apply=fix_linear_passthrough,
    order=70,
)
