"""What Keras computes on calibration inputs: every layer's values, and the integer bits they need.

PTQ's data-derived types (``quantization.ptq_integer_bits: null``) and the PTQ advisor take each
layer's integer bits from here, like hls4ml's profiling-based choice: weights and biases from
their own largest magnitude, results from the largest value observed on the calibration
(training) inputs with a 25 % margin.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepsets_trigger.data.arrays import as_list, n_samples
from deepsets_trigger.io import captured_output
from deepsets_trigger.precision import integer_bits_for
from deepsets_trigger.quantize import Precision, calibrated

MARGIN = 1.25  # observed activations can be exceeded by unseen samples: a quarter more range


def keras_layer_outputs(keras_model: Any, x: Any) -> dict[str, np.ndarray]:
    """``{name: (N, size)}`` of every Keras layer, fused activations split as hls4ml splits them."""
    from hls4ml.model.profiling import get_ymodel_keras

    with captured_output("/dev/null"):
        outputs = get_ymodel_keras(keras_model, x)
    n = n_samples(x)
    values = {name: np.asarray(v, dtype=np.float64).reshape(n, -1) for name, v in outputs.items()}
    for name, array in zip(keras_model.input_names, as_list(x), strict=True):
        values[name] = np.asarray(array, dtype=np.float64).reshape(n, -1)
    return values


def observed_integer_bits(model: Any, calib: Any, skip: set[str] | None = None) -> dict[str, dict[str, int]]:
    """``{layer: {result|weight|bias: I}}`` (sign included) for every layer but the Input and softmaxes.

    Args:
        model: the Keras model.
        calib: calibration inputs (one array, or one per model input).
        skip: layers whose result is typed otherwise (e.g. the logits, whose type a conversion fix
            sets from their observed range): only their weights and biases get an entry.
    """
    from deepsets_trigger.convert import fingerprint

    key = (fingerprint(model.get_weights()), fingerprint(as_list(calib)), tuple(sorted(skip or ())))
    if _LAST.get("key") == key:  # a study group's next PTQ point: the same model and inputs
        return _LAST["value"]
    values = keras_layer_outputs(model, calib)
    bits: dict[str, dict[str, int]] = {}
    for layer in model.layers:
        is_softmax = getattr(getattr(layer, "activation", None), "__name__", "") == "softmax"
        if type(layer).__name__ == "InputLayer" or is_softmax or layer.name not in values:
            continue
        entry = {}
        if layer.name not in (skip or set()):
            entry["result"] = integer_bits_for(MARGIN * float(np.max(np.abs(values[layer.name]))))
        for kind, w in zip(("weight", "bias"), layer.get_weights(), strict=False):
            entry[kind] = integer_bits_for(float(np.max(np.abs(w))) if w.size else 0.0)
        if entry:
            bits[layer.name] = entry
    _LAST.update(key=key, value=bits)
    return bits


_LAST: dict[str, Any] = {}


def calibrate_precision(precision: Precision, model: Any, calib: list[np.ndarray]) -> Precision:
    """``precision`` with its per-layer integer bits from ``calib`` when it asks for them (``calibrate``).

    The logits' result is left to the conversion fix that types it from its observed range.
    """
    from deepsets_trigger.convert import softmax_producers

    if not precision.calibrate:
        return precision
    x = calib[0] if len(calib) == 1 else calib
    return calibrated(precision, observed_integer_bits(model, x, skip=set(softmax_producers(model))))
