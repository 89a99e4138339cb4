"""A Dense on a 3-D input becomes a pointwise Conv1D that drops its QKeras quantizers (trap 1).

hls4ml then casts the float weights to the layer's type (1.0 wraps to −1.0 at ``ap_fixed<8,1>``).
Storing ``quantizer(w)`` in every QKeras layer makes that cast exact; quantizers are idempotent on
their own grid, so the Keras forward pass is unchanged. A scale (``alpha`` ≠ 1) cannot be carried
by the pointwise layer and is refused.
"""

from __future__ import annotations

from typing import Any

from deepsets_trigger.convert.fixes import Fix, FixContext
from deepsets_trigger.errors import ToolkitError


def _alpha(quantizer: Any) -> Any:
    alpha = getattr(quantizer, "alpha", None)
    return None if alpha is None or (isinstance(alpha, (int, float)) and alpha == 1) else alpha


def prequantize_weights(model: Any, ctx: FixContext | None = None) -> list[str]:
    notes = []
    for layer in model.layers:
        quantizers = getattr(layer, "quantizers", None)
        if not quantizers or not layer.get_weights():
            continue
        three_d = len(layer.input_shape) > 2 if hasattr(layer, "input_shape") else False
        for q in quantizers:
            if q is not None and three_d and _alpha(q) is not None:
                raise ToolkitError(
                    f"layer {layer.name!r}: a QKeras quantizer with alpha={q.alpha!r} on a Dense over a 3-D input "
                    "is not converted faithfully by hls4ml 1.3.0 (the pointwise Conv1D drops the scale); "
                    "use alpha=1 in quantized_bits."
                )
        weights = layer.get_weights()
        padded = (list(quantizers) + [None] * len(weights))[: len(weights)]  # no bias: fewer weights
        layer.set_weights([q(w).numpy() if q is not None else w for w, q in zip(weights, padded, strict=True)])
        if three_d:
            notes.append(f"stored quantized weights of '{layer.name}' (3-D input: hls4ml drops its quantizers)")
    return notes


FIX = Fix(
    name="dropped_quantizers",
    phase="weights",
    summary="a Dense on a 3-D input becomes a pointwise Conv1D that drops its QKeras quantizers",
    apply=prequantize_weights,
    trap="1",
    order=10,
)
