"""Precision advisor for PTQ models: per-layer ``ap_fixed<W,I>``, verified by re-emulation.

I per layer comes from the Keras values observed on the calibration (training) inputs with a
25 % margin (weights and biases from their own largest magnitude); then one fractional width F
for all layers is searched (bisection, each candidate converted, compiled and emulated) until the
firmware/Keras accuracy ratio reaches the target. The baseline is the smallest uniform
``ap_fixed<W, I_max>`` that reaches the same ratio (I_max: the largest per-layer I, so the
uniform type overflows nowhere either), found the same way. Both are reported with their
verified ratio and agreement, total bits (Σ type width × tensor size over weights, biases and
layer outputs of the converted model), BOPs, LUT and DSP from the analytic resource model.
The softmax and its logits keep the toolkit's own fixes (types from the observed range).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.convert import compile_model, convert, predict, softmax_producers
from deepsets_trigger.convert.ranges import calibrate_precision
from deepsets_trigger.convert.ranges import observed_integer_bits as observed_bits
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import plain, write_text_atomic
from deepsets_trigger.precision import FixedType, from_hls4ml, parse_precision
from deepsets_trigger.quantize import firmware_precision
from deepsets_trigger.resources import estimate

MAX_FRACTIONAL = 16


def observed_integer_bits(model: Any, calib: Any) -> dict[str, dict[str, int]]:
    """``{layer: {result|weight|bias: I}}`` for every Dense, activation and pooling layer.

    The logits are left out: the toolkit's own fix types them from the observed range.
    """
    return observed_bits(model, calib, skip=set(softmax_producers(model)))


def per_layer(bits: dict[str, dict[str, int]], fractional: int) -> dict[str, dict[str, FixedType]]:
    return {name: {kind: FixedType(i + fractional, i) for kind, i in kinds.items()} for name, kinds in bits.items()}


def total_bits(hls_model: Any) -> int:
    """Σ width × size over the converted model's weights, biases and layer outputs."""
    total = 0
    for layer in hls_model.get_layers():
        out = from_hls4ml(layer.get_output_variable().type.precision)
        total += (out.width if out else 0) * int(np.prod(layer.get_output_variable().shape))
        for key in ("weight", "bias"):
            var = layer.weights.get(key) if hasattr(layer, "weights") else None
            t = from_hls4ml(var.type.precision) if var is not None else None
            if t is not None:
                total += t.width * int(np.asarray(var.data).size)
    return int(total)


class _Evaluator:
    """Convert, compile and emulate one candidate precision; remembers every result."""

    def __init__(self, cfg: Any, model: Any, x: list[np.ndarray], y: np.ndarray, calib: Any, work: Path) -> None:
        self.cfg, self.model, self.x, self.y, self.calib, self.work = cfg, model, x, y, calib, work
        keras_probs = np.asarray(model.predict(x[0] if len(x) == 1 else x, verbose=0, batch_size=1024))
        self.keras_pred = keras_probs.argmax(axis=1)
        self.keras_accuracy = float(np.mean(self.keras_pred == np.asarray(y).argmax(axis=1)))
        self.count = 0

    def __call__(self, label: str, default: FixedType, layers: dict[str, dict[str, FixedType]]) -> dict[str, Any]:

        self.count += 1
        conversion = convert(
            self.model,
            self.cfg.hls,
            self.work / f"candidate_{self.count}",
            mode="ptq",
            default_precision=default,
            layer_precisions=layers,
            input_precision=parse_precision(self.cfg.quantization.input_precision),
            calib_x=self.calib[0] if len(self.calib) == 1 else self.calib,
            log_path=self.work / f"candidate_{self.count}.log",
        )
        compile_model(conversion)
        fw = predict(conversion, self.x)[-1]
        pred = fw.argmax(axis=1)
        accuracy = float(np.mean(pred == np.asarray(self.y).argmax(axis=1)))
        resources = estimate(conversion.hls_model)
        return {
            "label": label,
            "accuracy_ratio": accuracy / self.keras_accuracy if self.keras_accuracy else None,
            "firmware_accuracy": accuracy,
            "keras_accuracy": self.keras_accuracy,
            "agreement": float(np.mean(pred == self.keras_pred)),
            "total_bits": total_bits(conversion.hls_model),
            "bops": resources["bops"],
            "lut": resources["lut"],
            "dsp": resources["dsp"],
            "hls_config": conversion.hls_config,
        }


def _smallest(lo: int, hi: int, evaluate: Any, target: float) -> tuple[int, dict[str, Any]] | None:
    """Smallest n in [lo, hi] whose evaluation reaches the target accuracy ratio (bisection)."""
    results: dict[int, dict[str, Any]] = {}

    def ok(n: int) -> bool:
        if n not in results:
            results[n] = evaluate(n)
        ratio = results[n]["accuracy_ratio"]
        return ratio is not None and ratio >= target

    if not ok(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo, results[lo]


def advise(
    cfg: Any, model: Any, x: list[np.ndarray], y: Any, calib: Any, target_ratio: float, work: Path, out: Path
) -> dict[str, Any]:
    """Advise, verify and write ``advised_hls4ml_config.yml``; returns before / advised / uniform."""
    import yaml

    if cfg.quantization.mode == "qat":
        raise ToolkitError("--advise is for PTQ/float models: a QAT model's types come from its quantizers.")
    if y is None or cfg.model.head != "classification":
        raise ToolkitError("--advise needs labelled classification data (the run's data config, not --inputs).")
    evaluate = _Evaluator(cfg, model, x, y, calib, work)
    run = calibrate_precision(firmware_precision(cfg.quantization), model, calib)
    label = f"the run's {run.default}" + (" (integer bits per layer from the data)" if run.notes else "")
    before = evaluate(label, run.default, run.layers)
    bits = observed_integer_bits(model, calib[0] if len(calib) == 1 else calib)
    i_max = max(i for kinds in bits.values() for i in kinds.values())

    def advised(f: int) -> dict[str, Any]:
        return evaluate(f"per-layer ap_fixed<I+{f},I>", FixedType(i_max + f, i_max), per_layer(bits, f))

    def uniform(w: int) -> dict[str, Any]:
        return evaluate(f"uniform {FixedType(w, i_max)}", FixedType(w, i_max), {})

    found = _smallest(1, MAX_FRACTIONAL, advised, target_ratio)
    if found is None:
        raise ToolkitError(
            f"no per-layer precision up to {MAX_FRACTIONAL} fractional bits reaches accuracy ratio {target_ratio}; "
            "lower --target-ratio or check the run (diagnosis.md)."
        )
    baseline = _smallest(i_max + 1, i_max + MAX_FRACTIONAL, uniform, target_ratio)
    best = found[1]
    path = out / "advised_hls4ml_config.yml"
    write_text_atomic(path, yaml.safe_dump(plain(best["hls_config"]), sort_keys=False))

    def public(r: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in r.items() if k != "hls_config"}

    return {
        "target_ratio": target_ratio,
        "before": public(before),
        "advised": public(best),
        "uniform": public(baseline[1])
        if baseline
        else {"label": f"no uniform ap_fixed<W,{i_max}> up to W={i_max + MAX_FRACTIONAL} reaches the target"},
        "integer_bits": bits,
        "candidates_evaluated": evaluate.count,
        "config": str(path),
    }
