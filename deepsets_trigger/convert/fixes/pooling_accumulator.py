"""Average pooling sums and divides in ``accum_t`` (the model default), which overflows and truncates (trap 2).

The accumulator gets ``log2(N)`` more integer and fractional bits than its input, so the sum of N
inputs cannot wrap and the mean is exact; the result keeps the extra fractional bits unless the
user typed it. Max pooling returns through ``accum_t``: it keeps the input type.
"""

from __future__ import annotations

import math
from typing import Any

from deepsets_trigger.convert.fixes import Fix, FixContext, LayerTypes, set_type
from deepsets_trigger.precision import FixedType


def fix_pooling_accumulator(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    notes = []
    for layer in graph.values():
        if not layer.class_name.startswith(("GlobalPooling", "Pooling")) or layer.input_type is None:
            continue
        t = layer.input_type
        if layer.pool_op != "Average":
            set_type(config, layer.name, "accum", t)
            continue
        extra = max(1, math.ceil(math.log2(max(layer.n_in, 2))))
        accum = FixedType(t.width + 2 * extra, t.integer + extra, t.signed)
        set_type(config, layer.name, "accum", accum)
        if layer.name not in ctx.user_results:
            set_type(config, layer.name, "result", FixedType(t.width + extra, t.integer, t.signed))
        notes.append(f"pooling '{layer.name}': accumulator {accum.ap()} for {layer.n_in} inputs of {t.ap()}")
    return notes


FIX = Fix(
    name="pooling_accumulator",
    phase="config",
    summary="average pooling accumulates in the default type and overflows",
    apply=fix_pooling_accumulator,
    trap="2",
    order=50,
)
