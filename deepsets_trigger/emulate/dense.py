"""Dense and pointwise Conv1D (hls4ml's Dense on a 3-D input), ``io_parallel``, every kernel.

What the C++ does (``nnet_dense_latency.h``, ``nnet_dense_resource.h``, ``nnet_conv1d_latency.h``,
``nnet_conv1d_resource.h``), per output ``j`` (and per pixel for the Conv1D):
``acc = (accum_t) bias[j]``; for each input ``i`` in the kernel's order
``acc += (accum_t)(x[i] * w[index])`` — the product is exact (``ap_fixed`` multiplication
widens), its assignment to ``accum_t`` rounds and overflows in accum_t's modes, and each sum
is assigned back to ``accum_t`` (overflow only: both operands have its fractional bits);
finally ``res[j] = (res_t) acc``. The kernels differ only in which weight index they read
and in the order of the additions: the twin replays each kernel's index loops once, at
build time (:func:`accumulation_order`), including its ``assert``s on the reuse factor.

The order matters only when the accumulator saturates: with AP_WRAP the sums are
arithmetic modulo ``2**W`` and any order gives the same bits, with AP_SAT a partial sum that
saturates does not come back the same way. So strategy and reuse factor do not change the
numbers unless ``accum_t`` saturates and a partial sum reaches its range.

Fast path (one float64 matrix product, BLAS) — taken only when it is provably equal:

1. every product is exact in ``accum_t``: ``F_acc >= F_x + F_w``, ``F_w`` the fractional
   bits the (constant) weights actually use, so the per-product cast never rounds;
2. either ``accum_t`` wraps (then ``wrap(Σ) = Σ wrap`` in any order), or no partial sum can
   leave its range: ``|bias_j| + Σ_i |w_ij| · max|x| <= `` the accumulator's limits, with
   ``max|x|`` the extreme of the *input type* — a bound over every possible input, never
   measured on data;
3. float64 sums exactly: every term and partial sum is an integer multiple of ``2**-F_acc``
   below ``2**53`` of them (same bound as 2), whatever order or FMA the BLAS uses.

Then ``res = (res_t) wrap_or_identity(x @ W + (accum_t) bias)``. Otherwise the exact path runs
the C++ step by step (vectorised over samples and outputs): cast each product to
``accum_t``, add in the kernel's order with the accumulator's overflow at every addition.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deepsets_trigger.emulate.fixed import MAX_EXACT_BITS, SINGLE_EXACT_BITS, cast, fractional_bits_of, max_abs
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
from deepsets_trigger.emulate.types import config_type
from deepsets_trigger.precision import FixedType

DENSE_KERNELS = ("DenseLatency", "DenseResource_rf_leq_nin", "DenseResource_rf_gt_nin_rem0")
CONV_KERNELS = ("Conv1DLatency", "BatchedDenseForConv1D", "Conv1DResource")
PRODUCTS = ("mult", "weight_ternary")
_CHUNK = 1 << 22  # elements per temporary product block of the exact path


def accumulation_order(kernel: str, n_in: int, n_out: int, reuse: int) -> list[tuple[int, int, int]]:
    """``(output, input, weight index)`` of every multiply-accumulate, in the C++ order.

    Raises:
        ValueError: the kernel's ``assert`` fails for this reuse factor (the C++ aborts), or
            the loops do not visit every (input, output) pair once.
    """
    steps: list[tuple[int, int, int]] = []
    if kernel in ("DenseLatency", "Conv1DLatency"):
        steps = [(j, i, i * n_out + j) for i in range(n_in) for j in range(n_out)]
    elif kernel == "BatchedDenseForConv1D":  # pointwise_conv_1d_latency_cl: weights[cc * n_filt + ff]
        steps = [(j, i, i * n_out + j) for j in range(n_out) for i in range(n_in)]
    elif kernel in ("DenseResource_rf_leq_nin", "Conv1DResource"):
        steps = _resource_leq(kernel, n_in, n_out, reuse)
    elif kernel == "DenseResource_rf_gt_nin_rem0":
        steps = _resource_gt_rem0(n_in, n_out, reuse)
    else:
        raise ValueError(f"kernel {kernel} is not mirrored")
    pairs = {(j, i) for j, i, _ in steps}
    indices = {w for _, _, w in steps}
    if len(steps) != n_in * n_out or len(pairs) != n_in * n_out or max(indices) >= n_in * n_out:
        raise ValueError(f"{kernel} with reuse factor {reuse} does not visit each of {n_in}×{n_out} products once")
    return steps


def _resource_leq(kernel: str, n_in: int, n_out: int, reuse: int) -> list[tuple[int, int, int]]:
    block_factor = -(-n_in * n_out // reuse)
    if kernel == "Conv1DResource":  # conv_1d_resource_cl
        multscale = block_factor // n_out
        if not (block_factor % n_out == 0 or reuse >= n_in) or reuse > n_in:
            raise ValueError(f"reuse factor {reuse} is not allowed for {n_in}×{n_out} (the C++ asserts)")
    else:  # dense_resource_rf_leq_nin
        multfactor = min(n_in, reuse)
        multiplier_limit = -(-n_in * n_out // multfactor)
        multscale = multiplier_limit // n_out
        if not (multiplier_limit % n_out == 0 or reuse >= n_in) or multiplier_limit != block_factor:
            raise ValueError(f"reuse factor {reuse} is not allowed for {n_in}×{n_out} (the C++ asserts)")
    steps = []
    for ir in range(reuse):
        w_index, in_index, out_index, acc_step = ir, ir, 0, 0
        for _ in range(block_factor):
            steps.append((out_index, in_index, w_index))
            w_index += reuse
            in_index += reuse
            if in_index >= n_in:
                in_index = ir
            if acc_step + 1 >= multscale:
                acc_step, out_index = 0, out_index + 1
            else:
                acc_step += 1
    return steps


def _resource_gt_rem0(n_in: int, n_out: int, reuse: int) -> list[tuple[int, int, int]]:
    rufactor = min(reuse, n_in * n_out)
    multfactor = min(n_in, reuse)
    multiplier_limit = -(-n_in * n_out // multfactor)
    block_factor = -(-n_in * n_out // reuse)
    if not (multiplier_limit % n_out == 0 or rufactor >= n_in) or not (rufactor > n_in and rufactor % n_in == 0):
        raise ValueError(f"reuse factor {reuse} is not allowed for {n_in}×{n_out} (the C++ asserts)")
    outscale = rufactor // n_in
    outidx, outstep = [], 0
    for ir in range(rufactor):
        outidx.append(outstep)
        if (ir + 1) % n_in == 0:
            outstep += 1
    steps, in_index = [], 0
    for ir in range(rufactor):
        w_index, out_index = ir, outidx[ir]
        for _ in range(block_factor):
            steps.append((out_index, in_index, w_index))
            w_index += rufactor
            if w_index >= n_in * n_out:
                break
            out_index += outscale
        in_index = 0 if in_index + 1 >= n_in else in_index + 1
    return steps


def _geometry(layer: Any) -> tuple[str, int, int, int]:
    """(kernel, n_in, n_out, pixels) from the generated C++ config and the layer's attributes."""
    if layer.class_name == "Dense":
        kernel = config_value(layer, r"using kernel = nnet::(\w+)<")
        return kernel or "", int(layer.get_attr("n_in")), int(layer.get_attr("n_out")), 1
    kernel = config_value(layer, r"using conv_kernel = nnet::(\w+)<")
    return kernel or "", int(layer.get_attr("n_chan")), int(layer.get_attr("n_filt")), int(layer.get_attr("in_width"))


def check(layer: Any) -> str | None:
    kernel, n_in, n_out, pixels = _geometry(layer)
    if layer.class_name == "PointwiseConv1D":
        if int(layer.get_attr("filt_width", 1)) != 1 or int(layer.get_attr("stride_width", 1)) != 1:
            return "only pointwise (width 1, stride 1) convolutions are mirrored"
        if int(layer.get_attr("pad_left", 0)) or int(layer.get_attr("pad_right", 0)):
            return "padded convolutions are not mirrored"
        if int(layer.get_attr("out_width")) != pixels:
            return "output width differs from input width"
    allowed = DENSE_KERNELS if layer.class_name == "Dense" else CONV_KERNELS
    if kernel not in allowed:
        return f"kernel {kernel or '?'} (strategy {layer.get_attr('strategy')}) is not mirrored"
    product = config_value(layer, r"using product = nnet::product::(\w+)<")
    if product not in PRODUCTS:
        return f"product {product} is not mirrored"
    in_size = int(np.prod(layer.get_input_variable().shape))
    if in_size != n_in * pixels:
        return f"input of {in_size} values for {pixels}×{n_in} inputs"
    return None


def build(layer: Any, ctx: BuildContext) -> Step:
    reason = check(layer)
    if reason:
        raise TwinUnsupported(layer.name, layer.class_name, reason)
    kernel, n_in, n_out, pixels = _geometry(layer)
    x_t = ctx.input_type(layer)
    w_flat, w_t = written_values(layer, "weight")
    bias, _ = written_values(layer, "bias")
    acc_t = config_type(layer, "accum_t")
    res_t = result_type(layer)
    try:
        steps = accumulation_order(kernel, n_in, n_out, int(layer.get_attr("reuse_factor", 1)))
    except ValueError as exc:
        raise TwinUnsupported(layer.name, layer.class_name, str(exc)) from None
    weights = np.zeros((n_in, n_out))
    order = np.zeros((n_out, n_in), dtype=np.int64)
    filled = np.zeros(n_out, dtype=np.int64)
    for j, i, w_index in steps:
        weights[i, j] = w_flat[w_index]
        order[j, filled[j]] = i
        filled[j] += 1
    if config_value(layer, r"using product = nnet::product::(\w+)<") == "weight_ternary":
        weights = np.where(weights == 0, 0.0, np.where(weights == -1, -1.0, 1.0))  # returns a for any other w
    bias_acc = cast(bias, acc_t)
    run, plan, single = _kernel(layer, x_t, w_t, acc_t, res_t, weights, bias_acc, order)
    plan = f"{kernel}: {plan}"

    def step(inputs: list[np.ndarray]) -> np.ndarray:
        x = inputs[0].reshape(-1, n_in)
        if not single:  # only the float32 fast path takes float32 inputs
            x = x.astype(np.float64, copy=False)
        return run(x).reshape(inputs[0].shape[0], pixels * n_out)

    return Step(layer.name, layer.class_name, list(layer.inputs), layer.outputs[0], res_t, step, plan, float32_in=True)


def _kernel(
    layer: Any,
    x_t: FixedType,
    w_t: FixedType,
    acc_t: FixedType,
    res_t: FixedType,
    weights: np.ndarray,
    bias_acc: np.ndarray,
    order: np.ndarray,
) -> tuple[Any, str, bool]:
    """The layer's function and the proof of its path: one BLAS product when the types allow it, else exact."""
    f_w = fractional_bits_of(weights)
    bound = np.abs(bias_acc) + np.abs(weights).sum(axis=0) * max_abs(x_t)  # any partial sum, any input
    worst = float(bound.max()) if bound.size else 0.0
    wraps = acc_t.saturation == "WRAP"
    in_range = worst <= acc_t.max_value and -worst >= acc_t.lowest
    lsb_count = worst * 2.0**acc_t.fractional
    log_bound = f"2^{math.log2(worst):.1f}" if worst > 0 else "0"
    if acc_t.fractional >= x_t.fractional + f_w and (wraps or in_range) and lsb_count < 2.0**MAX_EXACT_BITS:
        why = f"|partial sums| <= {log_bound} within accum_t" if in_range else "wraps once (modular sum)"
        plan = (
            f"BLAS: products exact in {acc_t.ap()} (F {acc_t.fractional} >= {x_t.fractional}+{f_w}), {why}, "
            f"float64-exact (< 2^{math.log2(max(lsb_count, 1)):.1f} LSBs)"
        )
        return _fast_kernel(x_t, acc_t, res_t, weights, bias_acc, f_w, worst, in_range, plan)
    if x_t.width + w_t.width > MAX_EXACT_BITS or acc_t.width + 1 > MAX_EXACT_BITS:
        raise TwinUnsupported(
            layer.name,
            layer.class_name,
            f"products of {x_t.ap()} × {w_t.ap()} or sums in {acc_t.ap()} exceed float64's {MAX_EXACT_BITS} bits",
        )
    return _exact_kernel(x_t, acc_t, res_t, weights, bias_acc, order, f_w, wraps, log_bound)


def _fast_kernel(
    x_t: FixedType,
    acc_t: FixedType,
    res_t: FixedType,
    weights: np.ndarray,
    bias_acc: np.ndarray,
    f_w: int,
    worst: float,
    in_range: bool,
    plan: str,
) -> tuple[Any, str, bool]:
    """One matrix product and one cast (the caller proved that no product or partial sum rounds)."""
    scaled_w, scaled_b = weights * 2.0**res_t.fractional, bias_acc * 2.0**res_t.fractional
    # float32 (SGEMM, half the memory traffic) when it is exact too: every term and partial sum a multiple
    # of 2**-F_terms below 2**24 of them, weights exact in float32, a result type of at most 24 bits
    # rounded by floor/rint (exact on any float32); overflow handling itself goes to float64
    f_terms = max(x_t.fractional + f_w, fractional_bits_of(bias_acc))
    single = (
        in_range
        and max(x_t.width, res_t.width) <= SINGLE_EXACT_BITS
        and res_t.rounding in ("TRN", "RND_CONV")
        and worst * 2.0**f_terms < 2.0**SINGLE_EXACT_BITS
        and np.array_equal(scaled_w.astype(np.float32), scaled_w)
        and np.array_equal(scaled_b.astype(np.float32), scaled_b)
    )
    if single:
        scaled_w, scaled_b = scaled_w.astype(np.float32), scaled_b.astype(np.float32)
        plan += f"; float32 (< 2^{math.log2(max(worst * 2.0**f_terms, 1)):.1f} units)"

    def fast(x: np.ndarray) -> np.ndarray:
        if not in_range:  # wraps: the accum_t cast, then the result cast
            return cast(cast(x @ weights + bias_acc, acc_t), res_t)
        # no accum_t overflow: one cast; the result's 2**F scale is folded into the (exact) weights
        acc = x.astype(np.float32 if single else np.float64, copy=False) @ scaled_w
        acc += scaled_b
        steps = res_t.quantize_steps(acc, inplace=True)
        steps *= res_t.lsb
        return steps

    return fast, plan, single


def _exact_kernel(
    x_t: FixedType,
    acc_t: FixedType,
    res_t: FixedType,
    weights: np.ndarray,
    bias_acc: np.ndarray,
    order: np.ndarray,
    f_w: int,
    wraps: bool,
    log_bound: str,
) -> tuple[Any, str, bool]:
    """Each product cast to accum_t and added in the C++ kernel's order (overflow at every addition)."""
    n_in, n_out = weights.shape
    sum_once = wraps and (n_in + 1) * 2.0**acc_t.width < 2.0**MAX_EXACT_BITS
    plan = (
        f"exact: each product cast to {acc_t.ap()}, "
        + ("summed then wrapped once (modular)" if sum_once else "added in the kernel's order with overflow each time")
        + f" (fast path refused: F {acc_t.fractional} vs {x_t.fractional}+{f_w}, bound {log_bound})"
    )
    columns = np.arange(n_out)

    def exact(x: np.ndarray) -> np.ndarray:
        out = np.empty((x.shape[0], n_out))
        rows = max(1, _CHUNK // max(1, n_in * n_out))
        for start in range(0, x.shape[0], rows):
            block = x[start : start + rows]
            if sum_once:
                products = cast(block[:, :, None] * weights[None, :, :], acc_t)
                acc = cast(bias_acc + products.sum(axis=1), acc_t)
            else:
                acc = np.broadcast_to(bias_acc, (block.shape[0], n_out))
                for t in range(n_in):
                    idx = order[:, t]
                    acc = cast(acc + cast(block[:, idx] * weights[idx, columns], acc_t), acc_t)
            out[start : start + rows] = cast(acc, res_t)
        return out

    return exact, plan, False


register("Dense", "PointwiseConv1D")(Handler(check, build))
