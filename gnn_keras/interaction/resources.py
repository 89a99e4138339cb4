"""Analytic cost of the gather and aggregate layers, in the row format of ``deepsets_trigger.resources.analytic``.

Both layers are fully parallel (io_parallel, the top function pipelined), so their cost follows
from the sizes and types alone — no weights:

- ``EdgeGather``: E × 2F output words of W bits, each an N:1 multiplexer selected by the edge
  index: ⌈(N − 1)/3⌉ LUT6 per bit (a LUT6 is a 4:1 mux; a tree of them), ⌈log4 N⌉ mux levels.
- ``EdgeAggregate``: N × E index comparators (⌈log2 N⌉ bits against a constant, ⌈bits/6⌉ + 1
  LUTs each) and N × D adder trees of E enable-gated messages in the accumulator width A
  (N·D·(E − 1)·A LUTs, the gating folded into the adders' LUTs), ⌈log2 E⌉ levels; a mean adds a
  reciprocal ROM of E + 1 entries and N × D products on DSPs. This is the price of a dynamic
  edge list in a single pipelined step: it grows as N·E·D, the reason published FPGA INs keep
  graphs small or fix the adjacency at design time.

The core's estimator calls :func:`layer_cost` for layer classes it does not model (the hook the
family declares); rows carry ``kernel`` so the report says what was modelled.
"""

from __future__ import annotations

import math
from typing import Any

from deepsets_trigger.precision import from_hls4ml

LUT6_MUX_INPUTS = 4  # a LUT6 selects 1 of 4 inputs (2 select bits)


def _cycles(levels: float, clock_period: float) -> int:
    from deepsets_trigger.resources.analytic import CALIBRATION

    per_cycle = CALIBRATION["adds_per_cycle"] * clock_period / 5.0
    return math.ceil(levels / max(per_cycle, 1e-9))


def gather_cost(n_nodes: int, n_edges: int, n_features: int, bits: int, clock_period: float = 5.0) -> dict[str, Any]:
    """Resources and latency of one :class:`EdgeGather` (see the module docstring)."""
    words = n_edges * 2 * n_features
    levels = math.ceil(math.log(max(n_nodes, 2), LUT6_MUX_INPUTS))
    cycles = max(1, _cycles(levels, clock_period))
    return {"dsp": 0, "lut": words * bits * math.ceil((n_nodes - 1) / 3), "ff": cycles * words * bits, "bram": 0,
            "latency_cycles": cycles, "ii": 1, "bops": 0.0, "kernel": "edge_gather (mux)"}  # fmt: skip


def aggregate_cost(
    n_nodes: int, n_edges: int, n_features: int, accum_bits: int, mean: bool = False, clock_period: float = 5.0
) -> dict[str, Any]:
    """Resources and latency of one :class:`EdgeAggregate` (see the module docstring)."""
    index_bits = max(1, math.ceil(math.log2(max(n_nodes, 2))))
    compare = n_nodes * n_edges * (math.ceil(index_bits / 6) + 1)
    adders = n_nodes * n_features * (n_edges - 1) * accum_bits
    levels = math.ceil(math.log2(max(n_edges, 2)))
    cycles = _cycles(levels + 1, clock_period)  # the comparators chain into the first adder level
    dsp = n_nodes * n_features if mean else 0
    if mean:
        from deepsets_trigger.resources.analytic import CALIBRATION

        cycles += int(CALIBRATION["dsp_cycles"])
    rom = math.ceil((n_edges + 1) * 18 / 64) * n_nodes if mean else 0
    n_out = n_nodes * n_features
    return {"dsp": dsp, "lut": compare + adders + rom, "ff": cycles * n_out * accum_bits, "bram": 0,
            "latency_cycles": cycles, "ii": 1, "bops": 0.0, "kernel": "edge_aggregate (adder trees)"}  # fmt: skip


def layer_cost(layer: Any, ctx: dict[str, Any]) -> dict[str, Any] | None:
    """The row of an hls4ml gather / aggregate layer; None for any other class."""
    clock = float(ctx.get("clock_period", 5.0))
    if layer.class_name == "EdgeGather":
        t = from_hls4ml(layer.get_output_variable().type.precision)
        bits = t.width if t is not None else 16
        n_nodes, n_edges, n_features = (int(layer.get_attr(k)) for k in ("n_nodes", "n_edges", "n_features"))
        return gather_cost(n_nodes, n_edges, n_features, bits, clock)
    if layer.class_name == "EdgeAggregate":
        t = from_hls4ml(layer.get_attr("accum_t").precision)
        bits = t.width if t is not None else 16
        n_nodes, n_edges, n_features = (int(layer.get_attr(k)) for k in ("n_nodes", "n_edges", "n_features"))
        return aggregate_cost(n_nodes, n_edges, n_features, bits, layer.get_attr("aggregation") == "mean", clock)
    return None
