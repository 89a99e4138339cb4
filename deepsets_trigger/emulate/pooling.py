"""Global pooling over constituents (``nnet_pooling.h: global_pooling1d_cl``), mean and max.

What the C++ does, per channel ``f`` over the ``n`` inputs ``x[i * n_filt + f]``:

- Average: ``accum_t y = 0; y += x[i]`` (each sum assigned to accum_t: rounding and overflow
  in its modes), then ``y /= n`` — an ``ap_fixed`` division by an ``unsigned``: the raw
  integer is divided and truncated toward zero, keeping accum_t's format —, then
  ``res = (res_t) y``.
- Max: ``y`` = the largest input (compared in the input type), returned as ``accum_t``
  (a cast), then ``res = (res_t) y``.

The sum needs no per-step cast when accum_t has at least the input's fractional bits and
either wraps or cannot overflow (``n · max|x|`` within its range, from the types): then it is
one NumPy sum and one cast, exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepsets_trigger.emulate.fixed import MAX_EXACT_BITS, SINGLE_EXACT_BITS, cast, max_abs
from deepsets_trigger.emulate.registry import BuildContext, Handler, Step, TwinUnsupported, register, result_type
from deepsets_trigger.emulate.types import config_type


def check(layer: Any) -> str | None:
    if layer.get_attr("pool_op") not in ("Average", "Max"):
        return f"pooling operation {layer.get_attr('pool_op')} is not mirrored"
    if len(layer.get_input_variable().shape) != 2:
        return "only global pooling of (constituents, channels) inputs is mirrored"
    return None


def build(layer: Any, ctx: BuildContext) -> Step:
    reason = check(layer)
    if reason:
        raise TwinUnsupported(layer.name, layer.class_name, reason)
    n, n_filt = (int(d) for d in layer.get_input_variable().shape)
    x_t, acc_t, res_t = ctx.input_type(layer), config_type(layer, "accum_t"), result_type(layer)
    if layer.get_attr("pool_op") == "Max":

        def run_max(xs: list[np.ndarray]) -> np.ndarray:
            return cast(cast(xs[0].reshape(-1, n, n_filt).max(axis=1), acc_t), res_t)

        plan = f"max in {x_t.ap()}, returned as {acc_t.ap()}"
        return Step(layer.name, layer.class_name, list(layer.inputs), layer.outputs[0], res_t, run_max, plan)

    bound = n * max_abs(x_t)
    if max(x_t.integer, acc_t.integer) + 1 + max(x_t.fractional, acc_t.fractional) > MAX_EXACT_BITS:
        raise TwinUnsupported(layer.name, layer.class_name, f"sums of {x_t.ap()} in {acc_t.ap()} exceed float64")
    one_sum = (
        acc_t.fractional >= x_t.fractional
        and (acc_t.saturation == "WRAP" or (bound <= acc_t.max_value and -bound >= acc_t.lowest))
        and bound * 2.0**acc_t.fractional < 2.0**MAX_EXACT_BITS
    )
    scale = 2.0**acc_t.fractional
    sum_in_range = bound <= acc_t.max_value and -bound >= acc_t.lowest  # then the accum_t cast is the identity
    single_sum = bound * 2.0**x_t.fractional < 2.0**SINGLE_EXACT_BITS
    power_of_two = n & (n - 1) == 0  # x / 2**k is exact in float64: trunc() of it is the C++ quotient

    def run_mean(xs: list[np.ndarray]) -> np.ndarray:
        x = xs[0].reshape(-1, n, n_filt)
        if one_sum:
            # exact: no term rounds; float32 sums when n·max|x| stays below 2**24 input LSBs
            acc = x.sum(axis=1, dtype=x.dtype if single_sum or x.dtype == np.float64 else np.float64)
            if not sum_in_range:
                acc = cast(acc, acc_t)
        else:
            acc = np.zeros((x.shape[0], n_filt))
            for i in range(n):
                acc = cast(acc + x[:, i, :].astype(np.float64), acc_t)
        if power_of_two:
            quotient = np.trunc(acc * (scale / n))  # sdiv/udiv: toward zero, in accum_t LSBs
        else:
            raw = np.rint(acc * scale).astype(np.int64)  # exact integers below 2**53
            quotient = np.sign(raw) * (np.abs(raw) // n)
        return cast(quotient.astype(np.float64) / scale, res_t)

    plan = ("one sum (no rounding or overflow possible)" if one_sum else "sums cast to accum_t one by one") + (
        f" in {acc_t.ap()}, / {n} toward zero"
    )
    return Step(layer.name, layer.class_name, list(layer.inputs), layer.outputs[0], res_t, run_mean, plan, True)


register("GlobalPooling1D")(Handler(check, build))
