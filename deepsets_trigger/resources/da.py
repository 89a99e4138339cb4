"""Resources of ``hls.strategy: distributed_arithmetic`` points: da4ml logic, counted by yosys or by da4ml.

hls4ml 1.3.0 (``backends/vivado/passes/distributed_arithmetic.py``) replaces each Dense/Conv kernel
by a da4ml adder graph (no multipliers, no DSPs; reuse factor 1 required) and leaves activations,
pooling and the softmax to the usual templates. The network up to the logits is the same logic
the yosys tier builds (:func:`deepsets_trigger.resources.rtl.trace_keras`, verified bit-exact
against Keras), so a DA point takes its numbers from there:

- ``resource_source: yosys`` when yosys is installed: ``synth_xilinx`` LUT/FF/CARRY counts;
- ``resource_source: da4ml`` otherwise: da4ml's own LUT estimate (``CombLogic.cost``, within a
  few per cent of yosys on the 16-32-5 net, ``tests/test_yosys.py``); FF not estimated.

Latency: the logic is pipelined at ``adds_per_cycle`` adder levels per clock period (the analytic
model's calibrated figure, scaled by ``hls.clock_period``), so its register stages are clock
cycles. The softmax is not part of the traced logic (it stays an hls4ml table lookup): its LUT,
FF, DSP and cycles are added from the analytic model and reported separately as
``softmax_analytic``, so a DA point compares with a Latency point of the same network. II: the
largest analytic layer interval (1 for the DA kernels with one partition; the softmax's
dual-port exp table gives ⌈n/2⌉).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.resources.calibration import CALIBRATION
from deepsets_trigger.resources.rtl import trace_keras, verify
from deepsets_trigger.resources.yosys import find_yosys, run_record


def latency_cutoff(clock_period: float) -> float:
    """da4ml delay units (one adder level each) per clock period: the analytic ``adds_per_cycle`` scaled."""

    return CALIBRATION["adds_per_cycle"] * clock_period / 5.0


def _softmax(analytic: dict[str, Any]) -> dict[str, int]:
    """The analytic numbers of the softmax layers (hls4ml tables, outside the traced DA logic)."""
    rows = [r for r in analytic.get("layers", []) if r.get("class") == "Softmax"]
    return {k: int(sum(r.get(k, 0) for r in rows)) for k in ("lut", "ff", "dsp", "latency_cycles")}


def _with_softmax(record: dict[str, Any], analytic: dict[str, Any]) -> dict[str, Any]:
    softmax = _softmax(analytic)
    if not any(softmax.values()):
        return record
    added = {k: (record[k] + v if record.get(k) is not None else None) for k, v in softmax.items()}
    notes = [*record.get("notes", []), "softmax (an hls4ml table lookup, not DA logic): analytic numbers added"]
    return {**record, **added, "softmax_analytic": softmax, "notes": notes}


def da4ml_estimate(model: Any, analytic: dict[str, Any], clock_period: float) -> dict[str, Any]:
    """da4ml's own estimate of the traced network (no yosys): LUTs and pipeline depth."""

    traced = trace_keras(model)
    verification = verify(traced, model, n=2_000)
    depth = float(traced.comb.latency[1])  # (min, max) over the outputs, in adder levels
    cycles = math.ceil(depth / latency_cutoff(clock_period))
    record = {
        "lut": round(float(traced.comb.cost)),
        "ff": None,
        "dsp": 0,
        "bram": 0,
        "latency_cycles": cycles,
        "ii": analytic.get("ii"),
        "bops": analytic.get("bops"),
        "resource_source": "da4ml",
        "layers": [],
        "verified": verification,
        "notes": [*traced.notes, "LUT: da4ml's estimate (no yosys on PATH); FF not estimated"],
    }
    return _with_softmax(record, analytic)


def da_record(
    model: Any,
    run_dir: str | Path,
    analytic: dict[str, Any],
    clock_period: float,
    cache_dir: str | Path | None = "~/.cache/deepsets-trigger",
) -> dict[str, Any]:
    """The resource record of a DA point: yosys counts when yosys is installed, else da4ml's estimate.

    Args:
        model: the trained QKeras model (quantized weights).
        run_dir: the run directory; the Verilog goes to ``run_dir/rtl`` (yosys only).
        analytic: the analytic estimate of the converted model (BOPs, softmax cycles, II).
        clock_period: ns; sets the pipelining of the logic.
        cache_dir: where yosys results are cached by the logic's hash.

    Returns:
        ``{lut, ff, dsp, bram, latency_cycles, ii, bops, resource_source, notes, …}``; a network the
        tracer cannot rebuild keeps the analytic numbers (hls4ml's ``da_kernel_cost``) with the reason.
    """

    try:
        try:
            find_yosys()
        except ToolkitError:
            return da4ml_estimate(model, analytic, clock_period)
        cutoff = latency_cutoff(clock_period)
        record = run_record(model, run_dir, analytic, cache_dir=cache_dir, latency_cutoff=cutoff)
    except ToolkitError as exc:
        return {**analytic, "notes": [f"distributed arithmetic: analytic numbers (da_kernel_cost) used: {exc}"]}
    record = {**record, "ii": max(int(record.get("ii") or 1), int(analytic.get("ii") or 1))}
    return _with_softmax(record, analytic)
