"""Per-layer comparison of the traced firmware emulation with the matching Keras layer.

Names: hls4ml keeps Keras layer names, splits fused activations into ``<layer>_<activation>``
(hls4ml's ``get_ymodel_keras`` gives the Keras side the same split), inserts ``<layer>_linear``
pass-throughs (compared with ``<layer>``), and turns a 3-D Dense into a pointwise Conv1D of the
same name. Causes, checked in this order for each layer:

- ``weights``: the firmware weights (cast to their type) differ from the QKeras-quantized ones —
  a dropped quantizer (hls4ml trap 1);
- ``wrap`` / ``saturate``: Keras values outside the firmware type's range (too few integer bits),
  split by the type's overflow mode: wrap is silent garbage, saturation clips;
- ``accumulator``: the sum a pooling (or Dense) accumulates exceeds its ``accum_t``;
- ``softmax table``: a softmax judged on its own inputs — the firmware's probabilities against
  the exact softmax of the firmware's logits, so the inputs agree to the bit — differs by more
  than :data:`SOFTMAX_TOLERANCE`, and by more than the logits' own error moves the probabilities
  (exp/inv table size or types too small; else the logits are the problem);
- ``precision``: no overflow, but the error jumps here (the LSB is too coarse).

``rounding`` (truncation below the LSB that accumulates across layers) is not seen in one
layer's numbers: :mod:`.attribution` finds it by re-emulating with single layers made exact.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from deepsets_trigger.convert.ranges import keras_layer_outputs
from deepsets_trigger.precision import FixedType, from_hls4ml

__all__ = ["LayerReport", "compare_layers", "culprit", "keras_layer_outputs", "match_keras"]

JUMP_FACTOR = 4.0  # the relative error grows this much over the layer before it …
JUMP_MIN = 0.05  # … and is at least this large: "the error jumps here"
SEVERE = ("weights", "wrap", "saturate", "accumulator", "softmax table")
SOFTMAX_TOLERANCE = 0.02  # max |Δp| a correct 1024-entry table stays under (measured ≤ 0.004)


@dataclass
class LayerReport:
    """One row of ``diagnosis.json``'s ``layers`` (the contract keys first)."""

    keras_layer: str | None
    hls_layer: str
    firmware_type: str | None
    max_abs_diff: float | None
    wrapped_fraction: float
    saturated_fraction: float
    cause: str | None
    hls_class: str = ""
    mean_abs_diff: float | None = None
    relative_error: float | None = None
    keras_min: float | None = None
    keras_max: float | None = None
    type_min: float | None = None
    type_max: float | None = None
    truncated_fraction: float = 0.0
    accumulator_overflow_fraction: float = 0.0
    decision_flips: int | None = None  # a softmax: samples whose argmax its tables change (same inputs)
    detail: str = ""
    keras_values: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record.pop("keras_values")
        return record


def match_keras(hls_name: str, keras_names: set[str]) -> str | None:
    if hls_name in keras_names:
        return hls_name
    if hls_name.endswith("_linear") and hls_name[: -len("_linear")] in keras_names:
        return hls_name[: -len("_linear")]
    return None


def _weights_differ(hls_layer: Any, keras_layer: Any) -> str:
    """Non-empty when the firmware weights are not the Keras layer's quantized weights."""
    quantizers = getattr(keras_layer, "get_quantizers", lambda: [])()
    if not quantizers or not hasattr(hls_layer, "weights"):
        return ""
    keras_weights = keras_layer.get_weights()
    for key, kq, kw in zip(("weight", "bias"), quantizers, keras_weights, strict=False):
        var = hls_layer.weights.get(key)
        t = from_hls4ml(var.type.precision) if var is not None else None
        if var is None or kq is None or t is None:
            continue
        expected = np.asarray(kq(kw), dtype=np.float64).ravel()
        stored = t.cast(np.asarray(var.data, dtype=np.float64)).ravel()
        if expected.size == stored.size and not np.array_equal(np.sort(expected), np.sort(stored)):
            bad = int(np.sum(np.abs(np.sort(expected) - np.sort(stored)) > 0))
            return (
                f"{bad} of {expected.size} firmware {key}s (cast to {t}) differ from the QKeras-quantized ones: "
                "the quantizer was lost in conversion (hls4ml trap 1); quantize the weights before converting"
            )
    return ""


def _range_flags(values: np.ndarray, t: FixedType) -> tuple[float, float, float]:
    outside = (values > t.max_value) | (values < t.min_value)
    frac_outside = float(np.mean(outside)) if values.size else 0.0
    inside = values[~outside]
    off_grid = inside * 2.0**t.fractional
    truncated = float(np.mean(off_grid != np.round(off_grid))) if inside.size else 0.0
    if t.saturation == "WRAP":
        return frac_outside, 0.0, truncated
    return 0.0, frac_outside, truncated


def _accumulator(hls_layer: Any, keras_in: np.ndarray | None) -> tuple[float, str]:
    """Fraction of samples whose pooling sum leaves ``accum_t`` (the mean is taken after the sum)."""
    accum = hls_layer.get_attr("accum_t")
    t = from_hls4ml(getattr(accum, "precision", None)) if accum is not None else None
    if t is None or keras_in is None or "Pooling" not in hls_layer.class_name:
        return 0.0, ""
    n_in = int(hls_layer.get_input_variable().shape[0])
    sums = keras_in.reshape(len(keras_in), n_in, -1).sum(axis=1)
    outside = (sums > t.max_value) | (sums < t.min_value)
    frac = float(np.mean(np.any(outside, axis=1)))
    detail = f"the sum over {n_in} inputs reaches {np.abs(sums).max():.3g}; accum_t {t} holds ±{t.max_value:.3g}"
    return frac, detail


def compare_layers(
    hls_model: Any, keras_model: Any, keras_values: dict[str, np.ndarray], firmware: dict[str, np.ndarray]
) -> list[LayerReport]:
    """One :class:`LayerReport` per traced hls4ml layer, in firmware order, causes filled in."""
    keras_names = set(keras_values)
    keras_layers = {layer.name: layer for layer in keras_model.layers}
    reports: list[LayerReport] = []
    previous_rel = 0.0
    for layer in hls_model.get_layers():
        if layer.name not in firmware:
            continue
        report, t = _measure(layer, match_keras(layer.name, keras_names), keras_values, firmware[layer.name])
        reports.append(report)
        if report.keras_values is None:
            continue
        parent = _input_name(layer)
        parent_k = keras_values.get(match_keras(parent, keras_names) or "", None) if parent else None
        report.accumulator_overflow_fraction, accum_detail = _accumulator(layer, parent_k)
        kname = report.keras_layer
        weights = _weights_differ(layer, keras_layers[kname]) if kname in keras_layers else ""
        fw_in = firmware.get(parent or "")
        split = _softmax_split(firmware[layer.name], fw_in, report.keras_values) if _is_softmax(layer) else None
        if split is not None:
            report.decision_flips = int(np.sum(firmware[layer.name].argmax(axis=1) != fw_in.argmax(axis=1)))
        table_error = split[0] if split and split[0] >= split[1] else None
        _assign_cause(report, layer, t, weights, accum_detail, previous_rel, table_error)
        previous_rel = max(previous_rel, report.relative_error)
    return reports


def _is_softmax(layer: Any) -> bool:
    return "Softmax" in layer.class_name or layer.get_attr("activation") == "softmax"


def _measure(
    layer: Any, kname: str | None, keras_values: dict[str, np.ndarray], fw: np.ndarray
) -> tuple[LayerReport, FixedType | None]:
    """The layer's report with its errors and range flags (no cause yet)."""
    var = layer.get_output_variable()
    t = from_hls4ml(var.type.precision)
    report = LayerReport(kname, layer.name, str(t) if t else str(var.type.precision), None, 0.0, 0.0, None)
    report.hls_class = layer.class_name
    if kname is None:
        report.detail = "no matching Keras layer"
        return report, t
    k = keras_values[kname]
    if k.shape != fw.shape:
        report.detail = f"shapes differ: Keras {k.shape}, firmware {fw.shape}"
        return report, t
    diff = np.abs(fw - k)
    report.max_abs_diff = float(diff.max())
    report.mean_abs_diff = float(diff.mean())
    report.relative_error = float(diff.mean() / (np.abs(k).mean() + 1e-12))
    report.keras_min, report.keras_max = float(k.min()), float(k.max())
    report.keras_values = k
    if t is not None:
        report.type_min, report.type_max = t.min_value, t.max_value
        if not _is_softmax(layer):
            report.wrapped_fraction, report.saturated_fraction, report.truncated_fraction = _range_flags(k, t)
    return report, t


def _assign_cause(
    report: LayerReport,
    layer: Any,
    t: FixedType | None,
    weights: str,
    accum_detail: str,
    previous_rel: float,
    table_error: float | None,
) -> None:
    """The first cause that explains the layer's error, in order of certainty."""
    is_softmax = _is_softmax(layer)
    seen = f"Keras values reach [{report.keras_min:.3g}, {report.keras_max:.3g}]"
    holds = f"[{t.min_value:.3g}, {t.max_value:.3g}]" if t else "?"
    jump = report.relative_error > max(JUMP_MIN, JUMP_FACTOR * previous_rel)
    if weights:
        report.cause, report.detail = "weights", weights
    elif report.wrapped_fraction > 0:
        report.cause, report.detail = "wrap", f"{seen}; {t} holds {holds} and wraps"
    elif report.saturated_fraction > 0:
        report.cause, report.detail = "saturate", f"{seen}; {t} saturates at {holds}"
    elif report.accumulator_overflow_fraction > 0:
        report.cause, report.detail = "accumulator", accum_detail
    elif is_softmax and table_error is not None and table_error > SOFTMAX_TOLERANCE:
        report.cause = "softmax table"
        report.detail = (
            f"fed the firmware's own logits (so its inputs agree to the bit), the probabilities differ from the "
            f"exact softmax of those logits by up to {table_error:.3g} (from Keras' by {report.max_abs_diff:.3g}) "
            f"and the tables change {report.decision_flips} decisions: "
            f"exp table "
            f"{layer.get_attr('exp_table_size', layer.get_attr('table_size'))} × {_type_of(layer, 'exp_table_t')}, "
            f"inverse table {layer.get_attr('inv_table_size', layer.get_attr('table_size'))} × "
            f"{_type_of(layer, 'inv_table_t')}"
        )
    elif jump and not is_softmax:
        report.cause = "precision"
        report.detail = (
            f"the error jumps to {report.relative_error:.3g} (relative) with LSB 2^-{t.fractional if t else '?'}"
        )


def _softmax_split(fw: np.ndarray, fw_in: np.ndarray | None, keras: np.ndarray) -> tuple[float, float] | None:
    """A softmax's probability error in two parts: ``(tables, inputs)``.

    Tables: max |firmware softmax − exact softmax of the firmware's own inputs| (the inputs agree to
    the bit); inputs: max |that exact softmax − Keras'| (what the logits' error alone does).
    """
    if fw_in is None or fw_in.shape != fw.shape or keras.shape != fw.shape:
        return None
    shifted = np.exp(fw_in - fw_in.max(axis=1, keepdims=True))
    exact = shifted / shifted.sum(axis=1, keepdims=True)
    return float(np.max(np.abs(fw - exact))), float(np.max(np.abs(exact - keras)))


def _input_name(layer: Any) -> str | None:
    inputs = getattr(layer, "inputs", None) or []
    return inputs[0] if inputs else None


def _type_of(layer: Any, attr: str) -> str:
    value = layer.get_attr(attr)
    t = from_hls4ml(getattr(value, "precision", None)) if value is not None else None
    return str(t) if t else "?"


def culprit(reports: list[LayerReport]) -> LayerReport | None:
    """The first layer with an overflow-type cause, else the first precision jump; None if clean."""
    severe = [r for r in reports if r.cause in SEVERE]
    if severe:
        return severe[0]
    jumps = [r for r in reports if r.cause == "precision"]
    return jumps[0] if jumps else None
