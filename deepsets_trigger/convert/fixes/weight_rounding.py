"""hls4ml writes float weights that the C++ casts by truncation, biasing every weight towards −∞.

The bias accumulates layer after layer (PTQ at ``ap_fixed<16,6>`` lost 1.3 % argmax agreement).
Weights are rounded to the nearest value of their type (and saturated); the types stay what the
user asked for. Values already on the grid (QKeras weights) are untouched.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepsets_trigger.convert.fixes import Fix, FixContext
from deepsets_trigger.precision import from_hls4ml


def round_weights_to_nearest(hls_model: Any, ctx: FixContext | None = None) -> list[str]:
    changed = []
    for layer in hls_model.get_layers():
        for key in ("weight", "bias"):
            var = layer.weights.get(key) if hasattr(layer, "weights") else None
            t = from_hls4ml(var.type.precision) if var is not None else None
            if t is None:
                continue
            data = np.asarray(var.data, dtype=np.float64)
            rounded = np.clip(np.round(data * 2.0**t.fractional) / 2.0**t.fractional, t.min_value, t.max_value)
            if not np.array_equal(rounded, data):
                var.data = rounded.astype(np.asarray(var.data).dtype)
                var.nonzeros = int(np.count_nonzero(var.data))
                var.nzeros = var.data_length - var.nonzeros
                var.min, var.max = np.min(var.data), np.max(var.data)
                changed.append(layer.name)
    return (
        [f"rounded float weights of {', '.join(sorted(set(changed)))} to nearest (hls4ml truncates)"] if changed else []
    )


FIX = Fix(
    name="weight_rounding",
    phase="model",
    summary="float weights are cast by truncation, biasing every weight downwards",
    apply=round_weights_to_nearest,
    order=10,
)
