"""The Input's type must be the input quantizer's, or the float → fixed cast truncates before it rounds (trap 4a).

Without an input quantizer the Input takes ``quantization.input_precision``; a type the user set
for the Input is kept.
"""

from __future__ import annotations

from typing import Any

from deepsets_trigger.convert.fixes import Fix, FixContext, LayerTypes, set_type


def fix_input_type(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    notes = []
    for layer in graph.values():
        if layer.class_name != "Input":
            continue
        wanted = ctx.input_quantizer_type or ctx.input_precision
        if wanted is None or layer.name in ctx.user_results:
            continue
        set_type(config, layer.name, "result", wanted)
        why = "its input quantizer's type" if ctx.input_quantizer_type else "quantization.input_precision"
        notes.append(f"input '{layer.name}' typed {wanted.ap()} ({why})")
    return notes


FIX = Fix(
    name="input_type",
    phase="config",
    summary="the Input truncates before the input quantizer rounds (bit-exact inputs need its type)",
    apply=fix_input_type,
    trap="4",
    order=30,
)
