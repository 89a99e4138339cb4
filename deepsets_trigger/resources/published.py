"""Published DeepSets syntheses, the configuration they match, and the analytic model's residuals.

Sources
- Odagiu et al., "Ultrafast jet classification at the HL-LHC", arXiv:2402.01876 (MLST 5 035017,
  2024): QKeras DeepSets, φ 32-32-32, ρ 32, mean pooling, 8-bit weights (``quantized_bits(8, 0)``)
  and activations (``quantized_relu(8, 0)``), the aggregator input quantized to
  ``quantized_bits(20, 10)``, a float output Dense (``fixed<16,6>`` in firmware), input
  ``ap_fixed<12,4,AP_RND,AP_SAT>``; hls4ml (1.0 era) Vitis, ``io_parallel``, Latency, xcvu13p,
  5 ns; reuse factor on the φ layers only. The numbers below are as tabulated in
  JEDI-linear (Que et al., arXiv:2508.15468) and quoted in the issue; the architecture and
  configuration are cross-checked with the authors' repository fastmachinelearning/l1-jet-id
  (``fast_jetclass/deepsets/deepsets_synth.py``, ``scripts/configs/deepsets_8bit_*const/*``).
  The tables themselves could not be retrieved from the stored copies of the papers here;
  the repository's 16-constituent configuration uses reuse factor 4, the issue's table 2.
- HGQ / JEDI-linear distributed-arithmetic DeepSets (8 constituents): 49 ns, 177k LUT, 0 DSP
  (as quoted in the issue) — a different (HGQ-quantized) network, shown for scale only.

In hls4ml 1.3.0 the 1.0 pointwise code generator is gone (hls4ml PR #1380); its equivalent is
``ParallelizationFactor`` = N (one partition, ``BatchedDenseForConv1D``), which the toolkit sets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import captured_output
from deepsets_trigger.precision import parse_precision

CITATION = "arXiv:2402.01876 (as tabulated in arXiv:2508.15468)"


@dataclass(frozen=True)
class PublishedPoint:
    """One published synthesis: its configuration and its numbers (``None``: not published)."""

    n_constituents: int
    reuse_factor: int
    latency_ns: float
    ii: int
    lut: int
    dsp: int
    ff: int | None = None
    clock_period: float = 5.0

    @property
    def latency_cycles(self) -> int:
        return round(self.latency_ns / self.clock_period)


PUBLISHED: dict[int, PublishedPoint] = {
    8: PublishedPoint(8, 2, 95.0, 3, 386_000, 626),
    16: PublishedPoint(16, 2, 115.0, 3, 747_000, 555),
    32: PublishedPoint(32, 8, 130.0, 2, 903_000, 434),
}
DA_REFERENCE = {
    "model": "HGQ DeepSets, 8 constituents, distributed arithmetic (arXiv:2508.15468)",
    "latency_ns": 49.0,
    "lut": 177_000,
    "dsp": 0,
}
ARCHITECTURE = {
    "model": "deepsets",
    "phi_widths": [32, 32, 32],
    "rho_widths": [32],
    "aggregation": "mean",
    "weight_bits": 8,
    "activation_bits": 8,
    "backend": "Vitis",
    "strategy": "Latency",
    "part": "xcvu13p",
    "clock_period": 5.0,
}

# Measured by tests/test_resources.py::test_published_configurations (the published network, rebuilt
# with untrained weights, against the published numbers) and ::test_calibration_against_the_real_report
# (Dense 16→5 against its report): the largest |relative error| per figure over those points.
RESIDUALS: dict[str, dict[str, Any]] = {
    "latency_cycles": {
        "n_points": 4,
        "max_rel": 0.15,
        "points": "published 8/16/32: +11 %, −9 %, −15 %; Dense 16→5: −10 %",
    },
    "ii": {
        "n_points": 3,
        "max_rel": 0.5,
        "points": "published 8/16: 0 %; 32: +50 % (hls4ml 1.0 shared multipliers 2:1, 1.3.0 does not); "
        "io_stream Dense not modelled",
    },
    "dsp": {
        "n_points": 4,
        "max_rel": 0.3,
        "points": "published 8/16/32: −10 %, +2 %, +30 %; Dense 16→5: −4 %",
    },
    "lut": {
        "n_points": 4,
        "max_rel": 0.7,
        "points": "published 8/16: +4 %, +4 %; 32: +70 % (hls4ml 1.0 vs 1.3.0 multiplier limit); "
        "Dense 16→5 after Vivado synthesis: −10 %",
    },
    "ff": {
        "n_points": 1,
        "max_rel": 0.03,
        "points": "Dense 16→5 after Vivado synthesis: +3 %; FF not published for DeepSets",
    },
}


def relative_error(estimate: float, reference: float) -> float:
    """``(estimate − reference) / reference``."""
    return (float(estimate) - float(reference)) / float(reference)


def error_bar(key: str) -> str:
    """The measured residual of one figure as text (``±30 % over 4 points``), or ``uncalibrated``."""
    entry = RESIDUALS.get(key)
    if entry is None:
        return "uncalibrated"
    points = entry["n_points"]
    return f"±{100 * entry['max_rel']:.0f} % over {points} point{'s' if points > 1 else ''}"


def summary_line(record: dict[str, Any]) -> str:
    """``total (analytic): dsp=… ±…, …``: every analytic figure with its calibration residual."""
    keys = ("lut", "ff", "dsp", "bram", "latency_cycles", "ii", "bops")
    source = record.get("resource_source")
    parts = []
    for key in keys:
        value = record.get(key)
        bar = f" ({error_bar(key)})" if source == "analytic" and key != "bops" and value is not None else ""
        parts.append(f"{key}={value}{bar}")
    line = f"total ({source}): " + ", ".join(parts)
    if any(r.get("kernel") == "distributed_arithmetic" for r in record.get("layers", [])):
        line += (
            "\ndistributed-arithmetic layers: hls4ml's da_kernel_cost (da4ml's estimate), not calibrated here; "
            "the run's result.json holds the yosys/da4ml numbers"
        )
    return line


def matching_point(result: dict[str, Any], config: dict[str, Any]) -> tuple[PublishedPoint | None, list[str]]:
    """The published synthesis a run reproduces, or ``None`` and the differences that rule each out."""
    hls = config.get("hls", {})
    have = {
        "model": result.get("model"),
        "phi_widths": result.get("phi_widths"),
        "rho_widths": result.get("rho_widths"),
        "aggregation": result.get("aggregation"),
        "weight_bits": result.get("weight_bits"),
        "activation_bits": result.get("activation_bits"),
        "backend": result.get("backend"),
        "strategy": result.get("strategy"),
        "part": str(hls.get("part", "")).split("-")[0],
        "clock_period": float(hls.get("clock_period", 0) or 0),
    }
    differences = [f"{k} {have[k]!r} (published {v!r})" for k, v in ARCHITECTURE.items() if have[k] != v]
    text = (config.get("quantization") or {}).get("input_precision")
    if text is not None:
        t = parse_precision(str(text))
        if (t.width, t.integer) != (12, 4):
            differences.append(f"input_precision {t.ap()} (published ap_fixed<12,4,AP_RND,AP_SAT>)")
    n = result.get("n_constituents")
    point = PUBLISHED.get(n) if isinstance(n, int) else None
    if point is None:
        differences.append(f"n_constituents {n!r} (published 8, 16, 32)")
    elif result.get("reuse_factor") != point.reuse_factor:
        differences.append(f"reuse_factor {result.get('reuse_factor')!r} (published {point.reuse_factor})")
    return (point if not differences else None), differences


def compare_published(run_dir: str | Path, record: dict[str, Any] | None = None) -> str:
    """The run's resource numbers next to the matching published synthesis (text for the CLI).

    Args:
        run_dir: a ``deepsets-trigger run`` output directory.
        record: the resource record to compare (default: the numbers in ``result.json``).

    Raises:
        ToolkitError: ``run_dir`` is not a run directory.
    """
    import yaml

    run_dir = Path(run_dir)
    if not (run_dir / "result.json").is_file() or not (run_dir / "config.yaml").is_file():
        raise ToolkitError(f"{run_dir}: --compare-published needs a run directory (result.json + config.yaml).")
    result = json.loads((run_dir / "result.json").read_text())
    config = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    point, differences = matching_point(result, config)
    lines = [f"published DeepSets syntheses: {CITATION}"]
    if point is None:
        lines.append("this run does not match a published configuration: " + "; ".join(differences))
        lines.append(
            "published: φ 32-32-32, ρ 32, mean, 8-bit QAT, Vitis Latency, xcvu13p, 5 ns; "
            + ", ".join(f"{p.n_constituents} constituents at RF {p.reuse_factor}" for p in PUBLISHED.values())
        )
        return "\n".join(lines)
    lines.append(f"matches: {point.n_constituents} constituents, RF {point.reuse_factor}")
    lines.append(
        "not identical: the run's weights are its own; the published firmware used fixed<16,6> layer results "
        "and sums, a 16-bit output layer and the reuse factor on φ only, while the toolkit sizes types exactly "
        "and applies the reuse factor to every layer — both move products between DSPs and LUTs"
    )
    lines.append(f"{'figure':<16}{'this run':>12}{'source':>10}{'published':>12}{'diff':>9}  model residual")
    published = {
        "latency_cycles": point.latency_cycles,
        "ii": point.ii,
        "lut": point.lut,
        "dsp": point.dsp,
        "ff": point.ff,
    }
    figures = record if record is not None else result
    source = figures.get("resource_source")
    for key, ref in published.items():
        value = figures.get(key)
        diff = f"{100 * relative_error(value, ref):+.0f} %" if value is not None and ref else "–"
        shown_ref = "–" if ref is None else str(ref)
        bar = error_bar(key) if source == "analytic" else "(measured tier)"
        lines.append(f"{key:<16}{value!s:>12}{source!s:>10}{shown_ref:>12}{diff:>9}  {bar}")
    lines.append(f"published latency {point.latency_ns:.0f} ns at {point.clock_period:g} ns; FF not published")
    return "\n".join(lines)


# --- the published network, rebuilt (tests and the calibration use it; needs TensorFlow) ---------


def published_model(n_constituents: int, seed: int = 0) -> Any:
    """The published QKeras DeepSets (``deepsets_synth.py`` of fastmachinelearning/l1-jet-id), untrained."""
    import qkeras
    import tensorflow as tf
    from tensorflow import keras

    tf.keras.utils.set_random_seed(seed)
    weights = "quantized_bits(8, 0, alpha=1)"
    relu = "quantized_relu(8, 0)"
    inputs = keras.Input((n_constituents, 3), name="input_layer")
    x = inputs
    for i in (1, 2, 3):
        x = qkeras.QDense(32, kernel_quantizer=weights, bias_quantizer=weights, name=f"phi{i}")(x)
        x = qkeras.QActivation(relu, name=f"phi{i}_relu")(x)
    x = qkeras.QActivation(qkeras.quantized_bits(20, 10, symmetric=0, keep_negative=1), name="agg_quant")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    x = qkeras.QDense(32, kernel_quantizer=weights, bias_quantizer=weights, name="rho")(x)
    x = qkeras.QActivation(relu, name="rho_relu")(x)
    x = keras.layers.Dense(5, name="dense")(x)
    x = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inputs, x, name="deepsets_invariant")


def published_hls_config(model: Any, point: PublishedPoint) -> dict[str, Any]:
    """The published hls4ml configuration in hls4ml 1.3.0 terms (``fixed<16,6>`` results and sums)."""
    import hls4ml

    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    config["Model"].update(Precision="fixed<16,6>", Strategy="Latency", ReuseFactor=1)
    layers = config["LayerName"]
    layers["input_layer"]["Precision"] = "ap_fixed<12,4,AP_RND,AP_SAT>"
    for name in ("phi1", "phi2", "phi3", "rho", "dense"):
        precision = layers[name].setdefault("Precision", {})
        precision.update(result="fixed<16,6>", accum="fixed<16,6>")
        if name == "dense":
            precision.update(weight="fixed<16,6>", bias="fixed<16,6>")
    layers["pool"]["Precision"] = {"result": "fixed<16,6>", "accum": "fixed<16,6>"}
    for name in ("phi1", "phi2", "phi3"):
        layers[name].update(
            ReuseFactor=point.reuse_factor, Strategy="Latency", ParallelizationFactor=point.n_constituents
        )
    return config


def convert_published(point: PublishedPoint, output_dir: str | Path, log_path: str | Path) -> Any:
    """The published configuration converted with hls4ml 1.3.0 (not compiled)."""
    import hls4ml

    model = published_model(point.n_constituents)
    with captured_output(log_path):
        return hls4ml.converters.convert_from_keras_model(
            model,
            hls_config=published_hls_config(model, point),
            output_dir=str(output_dir),
            backend="Vitis",
            io_type="io_parallel",
            part="xcvu13p-flga2577-2-e",
            clock_period=point.clock_period,
        )
