"""Analytic resource and latency model of what hls4ml 1.3.0 generates for ``io_parallel`` models.

It reads the *converted* hls4ml model (its final types, reuse factors, partitions and weights),
picks the C++ kernel hls4ml instantiates for each layer and prices that kernel. Every formula
names its source; constants fitted to measurements live in :data:`CALIBRATION` with the points
they were fitted on (the residuals are in :mod:`deepsets_trigger.resources.published`).

**Which kernel** (``backends/vivado/passes/convolution_templates.py``, ``core_templates.py``,
``passes/pipeline_style.py``):

- ``Dense``, Latency → ``dense_latency`` (``nnet_dense_latency.h``): its own function,
  ``PIPELINE II = RF``: interval ``RF``.
- per-position ``Conv1D`` (a Dense on a 3-D input), Latency, ``n_partitions == 1`` →
  ``BatchedDenseForConv1D`` + ``pointwise_conv_1d_latency_cl`` (``vitis/nnet_conv1d.h``): all
  ``P`` positions at once, ``INLINE recursive`` into the top function, which hls4ml pipelines
  (``PIPELINE``, II 1) when every convolution has one partition. ``n_partitions = P /
  ParallelizationFactor`` (``vivado_backend.init_conv1d``); the toolkit sets the factor to ``P``
  (``convert.fixes.fix_pointwise_parallel``). The interval is set by the ``ALLOCATION``
  limit (below), not by the inlined ``PIPELINE II = RF``: the published designs ran at II 3
  at RF 2 (the softmax's limit) and II 2 at RF 8 (multipliers shared 2:1).
- ``Conv1D``, Latency, ``Q = n_partitions > 1`` → ``conv_1d_latency_cl``, top level DATAFLOW:
  ``PartitionLoop`` pipelined at ``II = RF`` over ``Q`` partitions of ``P/Q`` positions:
  interval ``Q·RF``, latency ``(Q − 1)·RF`` plus one partition's depth.
- Resource → ``dense_resource`` / ``conv_1d_resource_cl``: ``block_factor = ⌈n_in·n_out/RF⌉``
  general multipliers per position reading the weights from a reshaped array; ``II = RF`` for
  a Dense, ``Q·(RF + depth)`` for a convolution (its partition loop is not pipelined).
- ``distributed_arithmetic`` → da4ml kernels (``nnet_da_wrappers.h``): no multipliers; one kernel
  per position of a partition, ``PartitionLoop`` at ``II = 1`` so the interval is ``Q``. Its LUTs
  are hls4ml's ``da_kernel_cost`` (da4ml's estimate of the kernel) per kernel.

**Multipliers.** Per pipeline iteration a layer has ``(P/Q)·nnz`` products (``nnz`` non-zero
weights: a zero constant removes its product — pruning 50 % halves them). The template's
``ALLOCATION mul limit`` is ``multiplier_limit = ⌈n_in·n_out/RF⌉ − ⌊n_zeros/RF⌋`` with the
``n_in·n_out`` of its mult config — ``P²·n_chan·n_filt`` for ``BatchedDenseForConv1D``, which
therefore binds only when ``P < RF`` (in hls4ml 1.3.0 the reuse factor of a one-partition
per-constituent layer does not reduce its multipliers while ``P ≥ RF``). Products are shared
``s = ⌈products / multiplier_limit⌉``-fold (1 when the limit does not bind).

- a constant whose canonical-signed-digit (CSD) form has one non-zero digit (``±2^k``) is a
  shift: no multiplier;
- otherwise the product goes to a DSP when the constant is wide (``w ≥ 9`` significant bits,
  hls4ml's own rule in ``optimization/dsp_aware_pruning/objectives/vivado_objectives.py``: "Vivado
  doesn't use DSP when precision < 9") or when data and constant are both expensive in fabric
  (data ≥ ``dsp_data_bits`` bits and ≥ ``dsp_digits`` CSD digits; calibrated, see below); a product
  wider than one DSP slice (DSP48E1 25×18, DSP48E2 27×18, DSP58 27×24 by part family) takes two;
  ``⌈n_dsp/s⌉`` DSPs;
- fabric products are constant multipliers — shift-and-add, their ``d`` CSD partial products
  join the adder tree — unless shared (``s > 1``): then ``⌈n_fabric/s⌉`` general ``a×w`` LUT
  multipliers of ``general_mult_lut·a·w`` LUTs.

**LUT** = ``lut_scale`` × (general multipliers + one accumulator-wide adder per tree term: one per
shift or DSP product, ``fabric_term_lut`` per fabric partial product + casts); activations:
ReLU/linear half a LUT per output bit, lookup activations a 64-entry-per-LUT ROM; softmax: its
two tables as LUT ROMs plus its adders. **FF**: the layer's inputs and partial sums are
registered at every clock edge they cross: ``cycles × (n_in·a + n_out·W_acc)`` per position ×
``ff_scale``. **BRAM**: only the Resource strategy with RF > 1 keeps weights in block RAM:
``⌈w·⌈n_in·n_out/RF⌉/36⌉·⌈RF/512⌉`` BRAM18.

**Cycles.** Vitis chains operations within a clock period: an adder tree of ``n`` terms (CSD
partial products included) has ``⌈log2 n⌉`` levels and ``adds_per_cycle`` levels fit in 5 ns
(scaled with the clock period). A DSP product takes ``dsp_cycles`` (AREG/MREG/PREG); a layer's
registered output ``layer_cycles``; ReLU/quantizer activations ``activation_cycles``; a shared
multiplier adds ``s − 1``. Global average pooling: an adder tree over ``N`` plus a division (a
shift when ``N`` is a power of two, else a DSP product); max pooling a comparator tree. Softmax
(``softmax_stable``): max tree, exp table, sum tree, inverse table, products:
``softmax_cycles`` + 2 tree levels' cycles; its exp table is not partitioned, so its ``n`` reads
share a dual-port ROM: ``II ≥ ⌈n/2⌉``. Latency is the sum over layers, II the largest layer
interval; ``io_stream`` adds a read and a write stage per layer (``nnet_dense_stream.h``).

**BOPs** follow "Ps and Qs" (arXiv 2102.11289): ``P·m·n·((1 − f_p)·b_a·b_w + b_a + b_w + log2 n)``.

**Calibration** (measured residuals in :data:`deepsets_trigger.resources.published.RESIDUALS`):
the three published DeepSets syntheses (arXiv 2402.01876, Vitis HLS, xcvu13p, 5 ns) and the real
Dense 16→5 report (Vivado HLS 2020.1, xc7z020, io_stream). ``adds_per_cycle``, ``dsp_cycles``,
``layer_cycles`` and ``softmax_cycles`` minimise the largest latency error over the four points
(a grid over 3-6, 2-3, 0-1, 2-5). ``dsp_data_bits`` and ``dsp_digits``: the published designs put
hundreds of DSPs on a network whose weights are all 8-bit except the 16-bit output layer, fewer
with more constituents, so they sit in the constituent-independent 16-bit-data layer (ρ), not in
φ (12- and 8-bit data). ``fabric_term_lut`` from the published 8- and 16-constituent LUTs;
``lut_scale`` and ``ff_scale`` from the Dense report after Vivado synthesis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepsets_trigger.precision import FixedType, from_hls4ml

CALIBRATION: dict[str, float] = {
    "adds_per_cycle": 4.0,  # adder-tree levels chained in a 5 ns period (fitted: latency)
    "dsp_cycles": 3.0,  # a DSP48 product, AREG/MREG/PREG registered (fitted: latency)
    "layer_cycles": 0.0,  # extra registered output per weight layer (fitted: latency)
    "activation_cycles": 0.0,  # ReLU / quantizer casts chain into the producer's last stage
    "softmax_cycles": 3.0,  # exp ROM + inverse ROM reads and the final product (fitted: latency)
    "dsp_weight_bits": 9.0,  # hls4ml: "Vivado doesn't use DSP when precision < 9"
    "dsp_data_bits": 13.0,  # calibrated: ρ (16-bit data) on DSPs, φ (12-bit data) not
    "dsp_digits": 3.0,  # calibrated: constants with ≥ 3 CSD digits (≥ 2 fabric adders) go to DSPs
    "lut_scale": 1.0,  # LUTs per modelled adder bit (LUT6 + CARRY: one per bit)
    "fabric_term_lut": 0.55,  # calibrated: constant-multiplier partial products pack ~2 per LUT
    "general_mult_lut": 0.6,  # LUTs per bit-product of a shared general LUT multiplier
    "ff_scale": 1.0,  # flip-flops per registered live bit
}
ESTIMATED = ("Dense", "PointwiseConv1D", "Conv1D", "Activation", "ReLU", "Softmax", "GlobalPooling1D", "Input")


@dataclass(frozen=True)
class PartFamily:
    """The DSP slice of an FPGA family: name and the operand widths one slice multiplies."""

    name: str
    dsp: str
    a_bits: int
    b_bits: int


def part_family(part: str) -> PartFamily:
    """DSP slice of ``part``: 7-series DSP48E1 (25×18), UltraScale(+) DSP48E2 (27×18), Versal DSP58 (27×24).

    Sources: UG479 (7-series DSP48E1), UG579 (UltraScale DSP48E2), AM004 (Versal DSP58).
    """
    p = part.lower()
    if p.startswith(("xcvc", "xcvm", "xcvp", "xcve", "xcvh")):
        return PartFamily("versal", "DSP58", 27, 24)
    if p.startswith(("xcvu", "xcku", "xczu", "xcau", "xck26")):
        return PartFamily("ultrascale", "DSP48E2", 27, 18)
    return PartFamily("7series", "DSP48E1", 25, 18)


def csd_digits(value: int) -> int:
    """Non-zero digits of ``value`` in canonical signed digit form (non-adjacent form)."""
    n, digits = abs(int(value)), 0
    while n:
        if n & 1:
            digits += 1
            n -= 1 if n & 2 == 0 else -1
        n >>= 1
    return digits


def _width(t: FixedType | None, default: int = 16) -> int:
    return t.width if t is not None else default


def _type_of(layer: Any, attr: str) -> FixedType | None:
    var = layer.get_attr(attr)
    return from_hls4ml(var.precision) if var is not None else None


def _tree_levels(terms: int) -> int:
    return math.ceil(math.log2(max(terms, 1))) if terms > 1 else 0


def _cycles(levels: float, clock_period: float) -> int:
    per_cycle = CALIBRATION["adds_per_cycle"] * clock_period / 5.0
    return math.ceil(levels / max(per_cycle, 1e-9))


@dataclass
class Products:
    """How the non-zero products of one kernel position are implemented."""

    shifts: int = 0
    dsp: int = 0  # products on DSP slices (two slices for an oversize one count twice)
    fabric: int = 0
    terms: int = 0  # adders joining shift and DSP products into the output sums
    fabric_terms: int = 0  # adders joining the d CSD partial products of each fabric product
    column_terms: int = 1  # the most terms one output sums (bias included): the tree depth


def classify(weights: np.ndarray, fractional: int, data_bits: int, family: PartFamily) -> Products:
    """Split the non-zero constant products of ``weights`` (``n_in × n_out``) into shifts, DSP and fabric."""
    out = Products()
    mantissas = np.rint(np.asarray(weights, dtype=np.float64) * 2.0**fractional).astype(np.int64)
    mantissas = mantissas.reshape(-1, mantissas.shape[-1])
    for column in mantissas.T:
        column_terms = 1  # the bias
        for m in column[column != 0]:
            digits = csd_digits(int(m))
            bits = int(abs(m)).bit_length() + 1  # significant bits of the signed constant
            wide = bits >= CALIBRATION["dsp_weight_bits"] and data_bits >= 5
            costly = data_bits >= CALIBRATION["dsp_data_bits"] and digits >= CALIBRATION["dsp_digits"]
            if digits <= 1:
                out.shifts += 1
                out.terms += 1
                column_terms += 1
            elif wide or costly:
                fits = (data_bits <= family.a_bits and bits <= family.b_bits) or (
                    data_bits <= family.b_bits and bits <= family.a_bits
                )
                out.dsp += 1 if fits else 2
                out.terms += 1
                column_terms += 1
            else:
                out.fabric += 1
                out.fabric_terms += digits
                column_terms += digits
        out.column_terms = max(out.column_terms, column_terms)
    return out


def _kernel(layer: Any, io_type: str) -> str:
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


def _weight_layer(layer: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    io_stream = ctx["io_type"] == "io_stream"
    kernel = _kernel(layer, ctx["io_type"])
    a = _width(from_hls4ml(layer.get_input_variable().type.precision))
    result = _width(from_hls4ml(layer.get_output_variable().type.precision))
    rf = int(layer.get_attr("reuse_factor", 1))
    conv = layer.get_attr("n_filt") is not None
    if conv:
        n_in = int(layer.get_attr("n_chan")) * int(layer.get_attr("filt_width", 1))
        n_out = int(layer.get_attr("n_filt"))
        positions = int(layer.get_attr("out_width", 1))
        partitions = int(layer.get_attr("n_partitions", positions) or positions)
    else:
        n_in, n_out, positions, partitions = int(layer.get_attr("n_in")), int(layer.get_attr("n_out")), 1, 1
    per_iter = max(positions // max(partitions, 1), 1)
    if kernel == "distributed_arithmetic":
        return _da_layer(layer, ctx, a, result, n_in, n_out, positions, partitions, per_iter)
    weight = layer.weights["weight"]
    wtype = from_hls4ml(weight.type.precision)
    w = _width(wtype)
    acc = _width(_type_of(layer, "accum_t"), a + w + _tree_levels(n_in))
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
    levels = _tree_levels(products.column_terms)
    depth = (
        (int(CALIBRATION["dsp_cycles"]) if products.dsp else 0)
        + _cycles(levels, ctx["clock_period"])
        + int(CALIBRATION["layer_cycles"])
        + (share - 1)  # a shared multiplier serves its products one cycle after another
        + (2 if io_stream else 0)  # nnet_dense_stream: read and write stages
    )
    if kernel == "conv_latency":  # PartitionLoop pipelined at II = RF (DATAFLOW top level)
        interval = partitions * rf
        cycles = (partitions - 1) * rf + depth
    elif kernel == "batched_pointwise":  # inlined into the top pipeline: the multiplier limit sets II
        interval, cycles = share, depth
    else:  # dense_latency: its own function, PIPELINE II = RF
        interval, cycles = max(rf, share), depth
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
    family = ctx["family"]
    fits = (a <= family.a_bits and w <= family.b_bits) or (a <= family.b_bits and w <= family.a_bits)
    dsp = mults * (1 if fits else 2) if general_dsp else 0
    fabric_lut = 0 if general_dsp else mults * CALIBRATION["general_mult_lut"] * a * w
    lut = CALIBRATION["lut_scale"] * (fabric_lut + mults * acc + per_iter * n_out * result / 2)
    bram = math.ceil(w * block / 36) * math.ceil(rf / 512) if rf > 1 else 0
    levels = _tree_levels(math.ceil(block / n_out) + 1)
    depth = (
        (int(CALIBRATION["dsp_cycles"]) if general_dsp else 0)
        + _cycles(levels, ctx["clock_period"])
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
    levels = _tree_levels(n_in * 3 + 1)
    depth = _cycles(levels, ctx["clock_period"]) + int(CALIBRATION["layer_cycles"])
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


def _other_layer(layer: Any, ctx: dict[str, Any]) -> dict[str, Any] | None:
    cls = layer.class_name
    out = layer.get_output_variable()
    n_out = int(np.prod(out.shape))
    bits = _width(from_hls4ml(out.type.precision))
    extra = 2 if ctx["io_type"] == "io_stream" else 0
    clock = ctx["clock_period"]
    if cls == "Input":
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
        levels = _tree_levels(n)
        cycles = int(CALIBRATION["softmax_cycles"]) + 2 * _cycles(levels, clock) + extra
        return {"dsp": n, "lut": rom + 3 * n * 18, "ff": cycles * n * 18, "bram": 0,
                "latency_cycles": cycles, "ii": math.ceil(n / 2), "bops": 0.0}  # fmt: skip
    if cls == "GlobalPooling1D":
        n_red = int(layer.get_attr("n_in"))
        acc = _width(_type_of(layer, "accum_t"), bits)
        average = str(layer.get_attr("pool_op", "Average")) == "Average"
        power_of_two = n_red & (n_red - 1) == 0
        divide = 0 if (not average or power_of_two) else int(CALIBRATION["dsp_cycles"])
        cycles = _cycles(_tree_levels(n_red), clock) + divide + extra
        return {"dsp": 0 if not divide else n_out, "lut": n_out * (n_red - 1) * acc,
                "ff": max(cycles, 1) * n_out * acc, "bram": 0, "latency_cycles": cycles,
                "ii": int(layer.get_attr("reuse_factor", 1) or 1), "bops": 0.0}  # fmt: skip
    return None


def estimate(hls_model: Any) -> dict[str, Any]:
    """Totals and per-layer rows of a converted hls4ml model.

    Args:
        hls_model: an hls4ml ``ModelGraph`` (converted; it need not be compiled).

    Returns:
        ``{lut, ff, dsp, bram, latency_cycles, ii, bops, resource_source: "analytic", layers,
        not_estimated, part_family}``; totals are ``None`` when a layer cannot be modelled.
    """
    config = hls_model.config
    ctx = {
        "io_type": str(config.get_config_value("IOType", "io_parallel")),
        "clock_period": float(config.get_config_value("ClockPeriod", 5) or 5),
        "family": part_family(str(config.get_config_value("Part", "") or "")),
    }
    layers, missing = [], []
    for layer in hls_model.get_layers():
        has_weights = layer.weights.get("weight") is not None or layer.get_attr("da_kernel_cost") is not None
        if has_weights and layer.class_name in ESTIMATED:
            row = _weight_layer(layer, ctx)
        else:
            row = _other_layer(layer, ctx)
        if row is None:
            missing.append(layer.name)
            layers.append({"layer": layer.name, "class": layer.class_name, "estimate": "not estimated"})
            continue
        layers.append({"layer": layer.name, "class": layer.class_name, **row})
    estimated = [r for r in layers if "dsp" in r]
    totals: dict[str, Any] = {k: None for k in ("lut", "ff", "dsp", "bram", "latency_cycles", "ii", "bops")}
    if not missing:
        for key in ("lut", "ff", "dsp", "bram", "latency_cycles"):
            totals[key] = int(sum(r[key] for r in estimated))
        totals["ii"] = int(max((r["ii"] for r in estimated), default=1))
        totals["bops"] = float(sum(r["bops"] for r in estimated))
    return {
        **totals,
        "resource_source": "analytic",
        "layers": layers,
        "not_estimated": missing,
        "part_family": ctx["family"].name,
    }
