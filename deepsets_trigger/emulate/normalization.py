"""BatchNormalization and QKeras' ``ApplyAlpha`` scale (``nnet_batchnorm.h: normalize``).

The C++ computes ``res[i] = x[i] * scale[k] + bias[k]`` (``k = i % n_filt``, or ``i`` when
``n_filt == -1``): the product and the sum are exact ``ap_fixed`` arithmetic, the only
rounding is the assignment to ``res_t``. The twin casts the exact float64 value once; the
build checks that float64 holds it (widths of the product and of the aligned sum ≤ 53).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deepsets_trigger.emulate.fixed import MAX_EXACT_BITS, cast, max_abs
from deepsets_trigger.emulate.registry import (
    BuildContext,
    Handler,
    Step,
    TwinUnsupported,
    config_value,
    register,
    result_type,
    written_values,
)


def check(layer: Any) -> str | None:
    product = config_value(layer, r"using product = nnet::product::(\w+)<")
    if product != "mult":
        return f"product {product} is not mirrored"
    return None


def build(layer: Any, ctx: BuildContext) -> Step:
    reason = check(layer)
    if reason:
        raise TwinUnsupported(layer.name, layer.class_name, reason)
    x_t, res_t = ctx.input_type(layer), result_type(layer)
    scale, s_t = written_values(layer, "scale")
    bias, b_t = written_values(layer, "bias")
    n_filt = int(config_value(layer, r"n_filt = (-?\d+);") or -1)
    size = int(np.prod(layer.get_input_variable().shape))
    index = np.arange(size) if n_filt == -1 else np.arange(size) % n_filt
    fractional = max(x_t.fractional + s_t.fractional, b_t.fractional)
    largest = max_abs(x_t) * max_abs(s_t) + max_abs(b_t)
    if x_t.width + s_t.width > MAX_EXACT_BITS or largest * 2.0**fractional >= 2.0**MAX_EXACT_BITS:
        raise TwinUnsupported(layer.name, layer.class_name, f"x*scale+bias of {x_t.ap()}, {s_t.ap()} exceeds float64")
    s, b = scale[index], bias[index]

    def run(xs: list[np.ndarray]) -> np.ndarray:
        return cast(xs[0] * s + b, res_t)

    plan = f"exact x*scale+bias (< 2^{math.log2(max(largest * 2.0**fractional, 1)):.1f} LSBs) cast to {res_t.ap()}"
    return Step(layer.name, layer.class_name, list(layer.inputs), layer.outputs[0], res_t, run, plan)


register("BatchNormalization", "ApplyAlpha")(Handler(check, build))
