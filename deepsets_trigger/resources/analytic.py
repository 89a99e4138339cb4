"""Analytic resource and latency model of hls4ml's ``io_parallel`` Latency/Resource strategies.

It reads the *converted* hls4ml model (its final types, reuse factors, pruned weights), not the
Keras one. Per layer with weights (Dense, pointwise Conv1D) of ``n_in × n_out`` multiplications
at ``P`` positions processed in ``Q`` sequential partitions (hls4ml's ``n_partitions``; Q = P
with the default parallelization factor 1) and reuse factor ``RF``:

- multipliers instantiated ``M = ceil(nnz · (P/Q) / RF)``, with ``nnz`` the non-zero weights per
  position (zeros are constants that HLS removes: pruning 50 % halves the multipliers);
- a product of an ``a``-bit input and a ``w``-bit weight uses a DSP48 when both are ≥ 9 bits
  (hls4ml's own DSP rule), two when it exceeds one DSP48E2 (27 × 18 bits, a > 27 and w > 18);
  narrower products become LUT multipliers of ``ceil(0.6 · a · w)`` LUTs (array multiplier);
- the adder tree has ``M`` adders of the accumulator width ``W_acc``, one LUT per bit;
- flip-flops: pipeline registers on every product (``a + w`` bits) and on every result
  (``W_result`` bits per output and position);
- BRAM (Resource strategy with RF > 1 only; Latency keeps weights in logic): the weights are
  partitioned into words of ``ceil(n_in·n_out/RF)`` weights, depth RF:
  ``ceil(w · ceil(n_in·n_out/RF) / 36) · ceil(RF / 512)`` BRAM18K;
- cycles: the layer's interval is ``Q · RF``; its latency ``Q · RF − 1 + D`` (a pipelined loop
  of Q partitions at II = RF, the reuse inside one partition adding RF − 1), with a depth D of
  3 (DSP) or 1 (LUT) for the multiplication plus ``ceil(log2(n_in + 1))`` for the adder tree
  (one add per cycle at 5 ns).

Other layers: element-wise activations 1 cycle and one LUT per output bit (ReLU) or a lookup
table (other activations: BRAM-free, 2 cycles); global pooling ``ceil(log2 N) + 1`` cycles and
one adder (average) or comparator (max) per reduction step; softmax ``3 + ceil(log2 n)``
cycles. Latency is the sum over layers; the interval II is the largest layer interval.
``io_stream`` adds one cycle per layer for the stream handshake. Anything else is "not
estimated", and then the totals are ``None`` rather than a wrong number.

BOPs per layer follow "Ps and Qs" (arXiv 2102.11289): ``P · m · n · ((1 − f_p) · b_a · b_w +
b_a + b_w + log2 n)`` for ``n`` inputs, ``m`` outputs, pruned fraction ``f_p``.

Measured against the one real calibration point (``tests/test_resources.py``; Dense 16→5,
ReLU, ap_fixed<16,6>, io_stream, Vivado HLS 2020.1; random weights here, trained ones there):
DSP 80 vs 73 (+10 %), latency 11 vs 10 cycles (+10 %), II 1 vs 8 (the report's io_stream
interval is not modelled), LUT 1360 vs 2532 (−46 %; vs 1526 after Vivado synthesis, −11 %),
FF 2720 vs 7969 (−66 %; vs 2428 after Vivado synthesis, +12 %). DSP and latency are the
numbers to trust; LUT and FF track the post-synthesis figures better than the HLS estimate.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deepsets_trigger.precision import FixedType, from_hls4ml

DSP_MIN_BITS = 9
ESTIMATED = ("Dense", "PointwiseConv1D", "Conv1D", "Activation", "ReLU", "Softmax", "GlobalPooling1D", "Input")


def _width(t: FixedType | None, default: int = 16) -> int:
    return t.width if t is not None else default


def _dsp_per_product(a: int, w: int) -> int:
    if a < DSP_MIN_BITS or w < DSP_MIN_BITS:
        return 0
    return 2 if (a > 27 and w > 18) else 1


def _weight_layer(layer: Any, io_stream: bool) -> dict[str, Any]:
    weight = layer.weights["weight"]
    w = _width(from_hls4ml(weight.type.precision))
    a = _width(from_hls4ml(layer.get_input_variable().type.precision))
    acc = _width(from_hls4ml(layer.get_attr("accum_t").precision) if layer.get_attr("accum_t") else None, a + w)
    result = _width(from_hls4ml(layer.get_output_variable().type.precision))
    rf = int(layer.get_attr("reuse_factor", 1))
    if layer.get_attr("n_filt") is not None:  # pointwise / 1-D convolution
        n_in = int(layer.get_attr("n_chan")) * int(layer.get_attr("filt_width", 1))
        n_out = int(layer.get_attr("n_filt"))
        positions = int(layer.get_attr("out_width", 1))
        partitions = int(layer.get_attr("n_partitions", positions) or positions)
    else:
        n_in, n_out, positions, partitions = int(layer.get_attr("n_in")), int(layer.get_attr("n_out")), 1, 1
    data = np.asarray(weight.data)
    nnz = int(np.count_nonzero(data))
    pruned = 1.0 - nnz / max(data.size, 1)
    per_call = positions // max(partitions, 1)
    multipliers = math.ceil(nnz * per_call / rf)
    dsp_each = _dsp_per_product(a, w)
    lut = multipliers * (0 if dsp_each else math.ceil(0.6 * a * w)) + multipliers * acc
    ff = multipliers * (a + w) + n_out * per_call * result
    resource = str(layer.get_attr("strategy", "latency")).lower() == "resource"
    bram = 0
    if resource and rf > 1:
        bram = math.ceil(w * math.ceil(n_in * n_out / rf) / 36) * math.ceil(rf / 512)
    interval = partitions * rf
    # a pipelined loop of Q partitions at II = RF with depth D takes (Q − 1)·RF + D cycles, and the
    # reuse inside one partition adds RF − 1
    depth = (3 if dsp_each else 1) + math.ceil(math.log2(n_in + 1)) + (1 if io_stream else 0)
    cycles = interval - 1 + depth
    bops = positions * n_out * n_in * ((1 - pruned) * a * w + a + w + math.log2(n_in))
    return {
        "dsp": multipliers * dsp_each,
        "lut": lut,
        "ff": ff,
        "bram": bram,
        "latency_cycles": cycles,
        "ii": interval,
        "bops": bops,
        "multipliers": multipliers,
        "multiplications": positions * nnz,
        "product_bits": [a, w],
    }


def _other_layer(layer: Any, io_stream: bool) -> dict[str, Any] | None:
    cls = layer.class_name
    out = layer.get_output_variable()
    n_out = int(np.prod(out.shape))
    bits = _width(from_hls4ml(out.type.precision))
    extra = 1 if io_stream else 0
    if cls == "Input":
        return {"dsp": 0, "lut": 0, "ff": 0, "bram": 0, "latency_cycles": 0, "ii": 1, "bops": 0.0}
    if cls in ("Activation", "ReLU"):
        relu = layer.get_attr("activation") in ("relu", "linear")
        lut = n_out * bits if relu else n_out * bits * 2
        return {
            "dsp": 0,
            "lut": lut,
            "ff": n_out * bits,
            "bram": 0,
            "latency_cycles": (1 if relu else 2) + extra,
            "ii": 1,
            "bops": 0.0,
        }
    if cls == "Softmax":
        n = n_out
        return {
            "dsp": 0,
            "lut": n * 18 * 4,
            "ff": n * bits * 3,
            "bram": 0,
            "latency_cycles": 3 + math.ceil(math.log2(max(n, 2))) + extra,
            "ii": 1,
            "bops": 0.0,
        }
    if cls == "GlobalPooling1D":
        n_red = int(layer.get_attr("n_in"))
        acc = _width(from_hls4ml(layer.get_attr("accum_t").precision) if layer.get_attr("accum_t") else None, bits)
        steps = n_out * (n_red - 1)
        return {
            "dsp": 0,
            "lut": steps * acc,
            "ff": n_out * bits,
            "bram": 0,
            "latency_cycles": math.ceil(math.log2(max(n_red, 2))) + 1 + extra,
            "ii": 1,
            "bops": 0.0,
        }
    return None


def estimate(hls_model: Any) -> dict[str, Any]:
    """Totals and per-layer rows ``{lut, ff, dsp, bram, latency_cycles, ii, bops, resource_source, layers}``."""
    io_stream = str(hls_model.config.get_config_value("IOType", "io_parallel")) == "io_stream"
    layers, missing = [], []
    for layer in hls_model.get_layers():
        if layer.weights.get("weight") is not None and layer.class_name in ESTIMATED:
            row = _weight_layer(layer, io_stream)
        else:
            row = _other_layer(layer, io_stream)
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
    return {**totals, "resource_source": "analytic", "layers": layers, "not_estimated": missing}
