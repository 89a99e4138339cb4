"""Softmax tables sized for probabilities (trap 3): unsigned, saturating, a normalised input resolving 1/128.

hls4ml's defaults derive the table types from the (possibly huge) logit type; the fix sets
probability-sized exp and inverse tables, an accumulator with room for the class count, the
requested table size, and an unsigned probability result. Table types the user set are kept.
"""

from __future__ import annotations

import math
from typing import Any

from deepsets_trigger.convert.fixes import Fix, FixContext, LayerTypes, layer_cfg, softmax_inputs
from deepsets_trigger.precision import FixedType


def fix_softmax_tables(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    notes = []
    for _producer, softmax in softmax_inputs(graph):
        n = max(2, graph[softmax].input_shape[-1] if graph[softmax].input_shape else 2)
        extra = math.ceil(math.log2(n))
        cfg = layer_cfg(config, softmax)
        wanted = {
            "exp_table_t": FixedType(18, 1, False, "RND", "SAT"),
            "inv_table_t": FixedType(18, 1, False, "RND", "SAT"),
            "inv_inp_t": FixedType(18, extra + 1, False, "RND", "SAT"),
            "accum_t": FixedType(18 + extra, 1 + extra, False, "RND", "SAT"),
            "inp_norm_t": FixedType(16, 3, False, "RND", "SAT"),
        }
        for key, t in wanted.items():
            if key not in cfg:
                cfg[key] = t.hls()
        if ctx.softmax_table_size is not None:
            cfg["TableSize"] = ctx.softmax_table_size
        cfg.setdefault("TableSize", 1024)
        cfg["Precision"].pop("accum", None)
        if softmax not in ctx.user_results:
            cfg["Precision"]["result"] = FixedType(16, 1, False, "RND", "SAT").hls()
        notes.append(f"softmax '{softmax}': table size {cfg['TableSize']}, normalised input {cfg['inp_norm_t']}")
    return notes


FIX = Fix(
    name="softmax_tables",
    phase="config",
    summary="softmax tables typed from the logits (not the probabilities) lose resolution",
    apply=fix_softmax_tables,
    trap="3",
    order=80,
)
