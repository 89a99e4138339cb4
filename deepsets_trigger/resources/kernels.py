"""Per-layer-kind formulas of the analytic model: which hls4ml kernel a layer becomes, and its cost.

One function per kind of kernel — ``dense_latency`` / ``BatchedDenseForConv1D`` /
``conv_1d_latency_cl`` (:func:`weight_layer`), ``dense_resource`` / ``conv_1d_resource_cl``, da4ml
kernels, and the layers without weights (activations, softmax, pooling: :func:`other_layer`). Each
returns one row of ``dsp, lut, ff, bram, latency_cycles, ii, bops``; the formulas and their sources
are the docstring of :mod:`deepsets_trigger.resources.analytic`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deepsets_trigger.precision import FixedType, from_hls4ml
from deepsets_trigger.resources.arithmetic import Products, classify, tree_cycles, tree_levels
from deepsets_trigger.resources.calibration import CALIBRATION


def _width(t: FixedType | None, default: int = 16) -> int:
    return t.width if t is not None else default


def _type_of(layer: Any, attr: str) -> FixedType | None:
    var = layer.get_attr(attr)
    return from_hls4ml(var.precision) if var is not None else None


def kernel_of(layer: Any, io_type: str) -> str:
    """The C++ kernel hls4ml 1.3.0 instantiates for a weight layer ("Which kernel" in the model docstring)."""
    strategy = str(layer.get_attr("strategy", "latency")).lower()
    if strategy == "distributed_arithmetic":
        return "distributed_arithmetic"
    conv = layer.get_attr("n_filt") is not None
    if strategy in ("resource", "resource_unrolled", "compressed"):
        return "conv_resource" if conv else "dense_resource"
    if not conv:
        return "dense_latency"
    pointwise = int(layer.get_attr("filt_width", 1)) == 1 and io_type == "io_parallel"
    if pointwise and int(layer.get_attr("n_partitions", 1) or 1) == 1:
        return "batched_pointwise"
    return "conv_latency"


def _shape(layer: Any) -> tuple[int, int, int, int]:
    """``(n_in, n_out, positions, partitions)``: a Dense is one position in one partition."""
    if layer.get_attr("n_filt") is None:
        return int(layer.get_attr("n_in")), int(layer.get_attr("n_out")), 1, 1
    n_in = int(layer.get_attr("n_chan")) * int(layer.get_attr("filt_width", 1))
    positions = int(layer.get_attr("out_width", 1))
    partitions = int(layer.get_attr("n_partitions", positions) or positions)
    return n_in, int(layer.get_attr("n_filt")), positions, partitions


def weight_layer(layer: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    """A Dense or Conv1D layer: dispatched to its kernel's formulas (Latency ones here).

    Args:
        layer: an hls4ml layer with weights (or a da4ml kernel cost).
        ctx: ``io_type``, ``clock_period`` and part ``family`` of the model.

    Returns:
        Its row: ``dsp, lut, ff, bram, latency_cycles, ii, bops`` plus multipliers, kernel, ….
    """
    kernel = kernel_of(layer, ctx["io_type"])
    a = _width(from_hls4ml(layer.get_input_variable().type.precision))
    result = _width(from_hls4ml(layer.get_output_variable().type.precision))
    rf = int(layer.get_attr("reuse_factor", 1))
    n_in, n_out, positions, partitions = _shape(layer)
    per_iter = max(positions // max(partitions, 1), 1)
    if kernel == "distributed_arithmetic":
        return _da_layer(layer, ctx, a, result, n_in, n_out, positions, partitions, per_iter)
    weight = layer.weights["weight"]
    wtype = from_hls4ml(weight.type.precision)
    w = _width(wtype)
    acc = _width(_type_of(layer, "accum_t"), a + w + tree_levels(n_in))
    data = np.asarray(weight.data).reshape(-1, n_out)
    nnz = int(np.count_nonzero(data))
    pruned = 1.0 - nnz / max(data.size, 1)
    bops = positions * n_out * n_in * ((1 - pruned) * a * w + a + w + math.log2(n_in))
    if kernel in ("dense_resource", "conv_resource"):
        return _resource_layer(layer, ctx, kernel, a, w, acc, result, n_in, n_out, rf, per_iter, partitions, bops)
    products = classify(data, wtype.fractional if wtype else 0, a, ctx["family"])
    mult_in_out = (positions * n_in) * (positions * n_out) if kernel == "batched_pointwise" else n_in * n_out
    limit = max(math.ceil(mult_in_out / rf) - (data.size - nnz) // rf, 1)  # the template's multiplier_limit
    share = max(math.ceil(per_iter * (products.dsp + products.fabric) / limit), 1)
    dsp = math.ceil(per_iter * products.dsp / share)
    if share > 1 and products.fabric:  # shared: general LUT multipliers, one tree term per product
        fabric_mults = math.ceil(per_iter * products.fabric / share)
        mult_lut = fabric_mults * CALIBRATION["general_mult_lut"] * a * w
        tree_lut = per_iter * (products.terms + products.fabric) * acc
    else:  # constant multipliers: their shift-and-add partial products join the adder tree
        fabric_mults = per_iter * products.fabric
        mult_lut = 0.0
        tree_lut = per_iter * (products.terms + CALIBRATION["fabric_term_lut"] * products.fabric_terms) * acc
    lut = CALIBRATION["lut_scale"] * (mult_lut + tree_lut + per_iter * n_out * result / 2)
    depth, cycles, interval = _latency_timing(kernel, products, share, rf, partitions, ctx)
    ff = CALIBRATION["ff_scale"] * depth * per_iter * (n_in * a + n_out * acc)
    return {
        "dsp": dsp,
        "lut": round(lut),
        "ff": round(ff),
        "bram": 0,
        "latency_cycles": cycles,
        "ii": interval,
        "bops": bops,
        "multipliers": dsp + fabric_mults,
        "multiplications": positions * nnz,
        "product_bits": [a, w],
        "kernel": kernel,
        "shifts": per_iter * products.shifts,
    }


def _latency_timing(
    kernel: str, products: Products, share: int, rf: int, partitions: int, ctx: dict[str, Any]
) -> tuple[int, int, int]:
    """``(depth, latency cycles, II)`` of a Latency-strategy kernel whose multipliers are shared ``share``-fold."""
    levels = tree_levels(products.column_terms)
    depth = (
        (int(CALIBRATION["dsp_cycles"]) if products.dsp else 0)
        + tree_cycles(levels, ctx["clock_period"])
        + int(CALIBRATION["layer_cycles"])
        + (share - 1)  # a shared multiplier serves its products one cycle after another
        + (2 if ctx["io_type"] == "io_stream" else 0)  # nnet_dense_stream: read and write stages
    )
    if kernel == "conv_latency":  # PartitionLoop pipelined at II = RF (DATAFLOW top level)
        return depth, (partitions - 1) * rf + depth, partitions * rf
    if kernel == "batched_pointwise":  # inlined into the top pipeline: the multiplier limit sets II
        return depth, depth, share
    return depth, depth, max(rf, share)  # dense_latency: its own function, PIPELINE II = RF


def _resource_layer(
    layer: Any,
    ctx: dict[str, Any],
    kernel: str,
    a: int,
    w: int,
    acc: int,
    result: int,
    n_in: int,
    n_out: int,
    rf: int,
    per_iter: int,
    partitions: int,
    bops: float,
) -> dict[str, Any]:
    """``dense_resource`` / ``conv_1d_resource_cl``: ``block_factor`` general multipliers per position."""
    block = math.ceil(n_in * n_out / rf)
    mults = per_iter * block
    general_dsp = a >= CALIBRATION["dsp_weight_bits"] and w >= CALIBRATION["dsp_weight_bits"]
    dsp = mults * (1 if ctx["family"].fits(a, w) else 2) if general_dsp else 0
    fabric_lut = 0 if general_dsp else mults * CALIBRATION["general_mult_lut"] * a * w
    lut = CALIBRATION["lut_scale"] * (fabric_lut + mults * acc + per_iter * n_out * result / 2)
    bram = math.ceil(w * block / 36) * math.ceil(rf / 512) if rf > 1 else 0
    levels = tree_levels(math.ceil(block / n_out) + 1)
    depth = (
        (int(CALIBRATION["dsp_cycles"]) if general_dsp else 0)
        + tree_cycles(levels, ctx["clock_period"])
        + int(CALIBRATION["layer_cycles"])
        + (1 if bram else 0)  # the BRAM read
        + (2 if ctx["io_type"] == "io_stream" else 0)
    )
    cycles = partitions * (rf - 1 + depth) if kernel == "conv_resource" else rf - 1 + depth
    interval = partitions * (rf + depth) if kernel == "conv_resource" and partitions > 1 else rf
    ff = CALIBRATION["ff_scale"] * depth * per_iter * n_out * acc
    return {
        "dsp": dsp,
        "lut": round(lut),
        "ff": round(ff),
        "bram": bram,
        "latency_cycles": cycles,
        "ii": interval,
        "bops": bops,
        "multipliers": mults,
        "multiplications": per_iter * partitions * n_in * n_out,
        "product_bits": [a, w],
        "kernel": kernel,
    }


def _da_layer(
    layer: Any,
    ctx: dict[str, Any],
    a: int,
    result: int,
    n_in: int,
    n_out: int,
    positions: int,
    partitions: int,
    per_iter: int,
) -> dict[str, Any]:
    """A da4ml kernel per position of a partition; LUTs from hls4ml's ``da_kernel_cost``."""
    cost = float(layer.get_attr("da_kernel_cost", 0.0) or 0.0)
    # a DA kernel is an adder graph: ~log2 of the terms it sums (inputs × CSD digits of 8-bit constants)
    levels = tree_levels(n_in * 3 + 1)
    depth = tree_cycles(levels, ctx["clock_period"]) + int(CALIBRATION["layer_cycles"])
    return {
        "dsp": 0,
        "lut": round(per_iter * cost),
        "ff": round(CALIBRATION["ff_scale"] * depth * per_iter * n_out * result),
        "bram": 0,
        "latency_cycles": (partitions - 1) + depth,
        "ii": partitions,
        "bops": positions * n_out * n_in * (a * 8 + a + 8 + math.log2(max(n_in, 2))),
        "multipliers": 0,
        "multiplications": positions * n_in * n_out,
        "product_bits": [a, None],
        "kernel": "distributed_arithmetic",
    }


def other_layer(layer: Any, ctx: dict[str, Any]) -> dict[str, Any] | None:
    """A layer without weights (input, concatenation, activation, softmax, pooling); ``None`` when not modelled."""
    cls = layer.class_name
    out = layer.get_output_variable()
    n_out = int(np.prod(out.shape))
    bits = _width(from_hls4ml(out.type.precision))
    extra = 2 if ctx["io_type"] == "io_stream" else 0
    clock = ctx["clock_period"]
    if cls in ("Input", "Concatenate"):  # io_parallel concatenation copies arrays: wiring (casts not priced)
        return {"dsp": 0, "lut": 0, "ff": 0, "bram": 0, "latency_cycles": 0, "ii": 1, "bops": 0.0}
    if cls in ("Activation", "ReLU"):
        act = layer.get_attr("activation")
        if act in ("relu", "linear"):
            cycles = int(CALIBRATION["activation_cycles"]) + extra
            return {"dsp": 0, "lut": n_out * bits // 2, "ff": cycles * n_out * bits, "bram": 0,
                    "latency_cycles": cycles, "ii": 1, "bops": 0.0}  # fmt: skip
        table = int(layer.get_attr("table_size", 1024) or 1024)
        rom = math.ceil(table * bits / 64)  # 64×1 ROM per LUT6
        return {"dsp": 0, "lut": rom + n_out * bits, "ff": 2 * n_out * bits, "bram": 0,
                "latency_cycles": 2 + extra, "ii": math.ceil(n_out / 2), "bops": 0.0}  # fmt: skip
    if cls == "Softmax":
        n = n_out
        table = int(layer.get_attr("table_size", 1024) or 1024)
        rom = 2 * math.ceil(table * 18 / 64)
        levels = tree_levels(n)
        cycles = int(CALIBRATION["softmax_cycles"]) + 2 * tree_cycles(levels, clock) + extra
        return {"dsp": n, "lut": rom + 3 * n * 18, "ff": cycles * n * 18, "bram": 0,
                "latency_cycles": cycles, "ii": math.ceil(n / 2), "bops": 0.0}  # fmt: skip
    if cls == "GlobalPooling1D":
        n_red = int(layer.get_attr("n_in"))
        acc = _width(_type_of(layer, "accum_t"), bits)
        average = str(layer.get_attr("pool_op", "Average")) == "Average"
        power_of_two = n_red & (n_red - 1) == 0
        divide = 0 if (not average or power_of_two) else int(CALIBRATION["dsp_cycles"])
        cycles = tree_cycles(tree_levels(n_red), clock) + divide + extra
        return {"dsp": 0 if not divide else n_out, "lut": n_out * (n_red - 1) * acc,
                "ff": max(cycles, 1) * n_out * acc, "bram": 0, "latency_cycles": cycles,
                "ii": int(layer.get_attr("reuse_factor", 1) or 1), "bops": 0.0}  # fmt: skip
    return None


__all__ = ["kernel_of", "other_layer", "weight_layer"]
