"""The inferred result type of the layer feeding a softmax can be huge (trap 3).

The softmax indexes its exp table with the top bits of its input type, so with a huge type every
small logit difference maps to one entry. The logits get the integer bits of the observed range
(×2 margin), their fractional bits kept (8–12, enough to address the table), and saturate.
"""

from __future__ import annotations

import math
from typing import Any

from deepsets_trigger.convert.fixes import Fix, FixContext, LayerTypes, set_type, softmax_inputs
from deepsets_trigger.precision import FixedType, integer_bits_for

MAX_LOGIT_FRACTIONAL = 12


def fix_logits_type(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    notes = []
    for producer, _softmax in softmax_inputs(graph):
        if producer in ctx.user_results or producer not in graph:
            continue
        inferred = graph[producer].result
        max_abs = ctx.output_ranges.get(producer)
        if inferred is None or max_abs is None:
            continue
        integer = integer_bits_for(2.0 * max_abs)
        fractional = max(8, min(inferred.fractional, MAX_LOGIT_FRACTIONAL))
        # hls4ml shrinks the softmax tables to 2**(width of the softmax input)
        table = ctx.softmax_table_size or 1024
        fractional = max(fractional, math.ceil(math.log2(table)) - integer)
        t = FixedType(integer + fractional, integer, True, "RND_CONV", "SAT")
        set_type(config, producer, "result", t)
        notes.append(
            f"logits '{producer}': {t.ap()} instead of inferred {inferred.ap()} (observed |max| {max_abs:.3g})"
        )
    return notes


FIX = Fix(
    name="logits_type",
    phase="config",
    summary="a huge inferred logit type breaks the softmax table",
    apply=fix_logits_type,
    trap="3",
    order=60,
)
