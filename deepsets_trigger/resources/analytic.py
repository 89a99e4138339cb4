"""Analytic resource and latency model of what hls4ml 1.3.0 generates for ``io_parallel`` models.

It reads the *converted* hls4ml model (its final types, reuse factors, partitions and weights),
picks the C++ kernel hls4ml instantiates for each layer and prices that kernel. Every formula
names its source; constants fitted to measurements live in :data:`CALIBRATION` with the points
they were fitted on (the residuals are in :mod:`deepsets_trigger.resources.published`).
This module adds the layers up (:func:`estimate`); the formulas live in :mod:`.kernels` (one
function per kernel), :mod:`.arithmetic` (shift / DSP / fabric products, adder trees) and
:mod:`.calibration` (the fitted constants).

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

from typing import Any

from deepsets_trigger import registry
from deepsets_trigger.resources.arithmetic import PartFamily, Products, classify, csd_digits, part_family
from deepsets_trigger.resources.calibration import CALIBRATION
from deepsets_trigger.resources.kernels import other_layer, weight_layer

ESTIMATED = ("Dense", "PointwiseConv1D", "Conv1D", "Activation", "ReLU", "Softmax", "GlobalPooling1D", "Input")


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
            row = weight_layer(layer, ctx)
        else:  # a layer the core does not model may be a family's (its ``layer_cost``)
            row = other_layer(layer, ctx) or registry.layer_cost(layer, ctx)
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


__all__ = [
    "CALIBRATION",
    "ESTIMATED",
    "PartFamily",
    "Products",
    "classify",
    "csd_digits",
    "estimate",
    "part_family",
]
