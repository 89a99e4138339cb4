"""GarNet through hls4ml: the rules it needs (guard rails) and a quantized path the firmware honours.

Guard rails (hls4ml 1.3.0, measured): only ``collapse='mean'`` converts (``'max'`` fails in g++,
``'sum'`` segfaults, none is not implemented); ``simplified=True`` only; no nonlinear output
activation; the vertex loop has no bound check, so ``V_max % ReuseFactor == 0``; only Vivado/Vitis
(Quartus silently drops the layer); only ``input_format='xn'`` (hits + vertex count).
:func:`check_garnet` turns each into an error that names the rule, before hls4ml sees the model.

Faithful quantization — why the conversion is extended rather than a new Keras layer: hls4ml's
GarNet contracts the input and output transforms into one kernel (FLR · Fout) at conversion time
and, when ``quantize_transforms=True``, passes both through a *ternary* quantizer, while the Keras
layer uses ``quantized_bits(total_bits, int_bits)``: the firmware computes a different network
(28 % agreement). The Keras QAT layer is the one users train, so the toolkit keeps it and fixes the
conversion instead (:func:`prepare_garnet`, run by ``deepsets_trigger.convert`` before hls4ml):
the FLR/Fout weights and biases are replaced by their ``quantized_bits`` values and the layer is
handed to hls4ml with ``quantize_transforms=False``, so the contracted kernel is built from the
quantized weights (stored with hls4ml's 10 fractional bits, RND, SAT); the layer's output
quantizer becomes the GarNet result type (``ap_fixed<total, int+1, AP_RND_CONV, AP_SAT>``), as
QKeras rounds half to even and saturates. No fork, no site-packages edit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.precision import FixedType

GARNET_CLASSES = ("GarNet", "GarNetStack")
COUNT_TYPE = FixedType(10, 10, signed=False)  # ap_uint<10>: up to 1023 hits


def garnet_layers(model: Any) -> list[Any]:
    return [layer for layer in model.layers if type(layer).__name__ in GARNET_CLASSES]


def _reuse_factor(layer: Any, hls: Any, hls_config: dict[str, Any] | None) -> int:
    config = hls_config or {}
    by_name = config.get("LayerName", {}).get(layer.name, {})
    for section in (by_name, config.get("LayerType", {}).get(type(layer).__name__, {})):
        if "ReuseFactor" in section:
            return int(section["ReuseFactor"])
    return int(config.get("Model", {}).get("ReuseFactor", hls.reuse_factor))


def check_garnet(model: Any, hls: Any, hls_config: dict[str, Any] | None = None) -> None:
    """Raise a :class:`ToolkitError` naming the rule a GarNet layer breaks (see the module docstring)."""
    for layer in garnet_layers(model):
        cfg = layer.get_config()
        where = f"GarNet layer {layer.name!r}"
        if hls.backend not in ("Vivado", "Vitis"):
            raise ToolkitError(
                f"{where}: hls4ml implements GarNet for the Vivado/Vitis backends only (Quartus silently drops "
                f"the layer); set hls.backend: Vitis, not {hls.backend!r}."
            )
        if cfg.get("collapse") != "mean":
            raise ToolkitError(
                f"{where}: collapse={cfg.get('collapse')!r} does not convert — only collapse='mean' does in hls4ml "
                "1.3.0 ('max' fails to compile, 'sum' segfaults); build the layer with collapse='mean'."
            )
        if not cfg.get("simplified"):
            raise ToolkitError(f"{where}: simplified=False has no HLS implementation; use simplified=True.")
        if cfg.get("output_activation") not in (None, "linear"):
            raise ToolkitError(
                f"{where}: output_activation={cfg.get('output_activation')!r} — the HLS GarNet has no nonlinear "
                "output activation; use output_activation=None and put the activation in a following layer."
            )
        if cfg.get("input_format") != "xn":
            raise ToolkitError(f"{where}: input_format must be 'xn' (hits, vertex count) for hls4ml.")
        n_vertices = int(layer.input_shape[0][1])
        rf = _reuse_factor(layer, hls, hls_config)
        if n_vertices % rf:
            raise ToolkitError(
                f"{where}: V_max = {n_vertices} is not divisible by the reuse factor {rf} (hls4ml's vertex loop "
                f"has no bound check); choose a reuse factor that divides {n_vertices}."
            )


def internal_types(n_vertices: int, reuse_factor: int, fractional: int = 16) -> dict[str, FixedType]:
    """hls4ml's GarNet internal types (its integer bits) with ``fractional`` bits instead of 10."""
    import math

    log2_reuse, width = int(math.log2(reuse_factor)), int(math.log2(n_vertices))
    aggr_int = max(log2_reuse, width - log2_reuse) + 3
    return {
        "edge_weight": FixedType(fractional, 0, signed=False),
        "edge_weight_aggr": FixedType(aggr_int - 3 + fractional, aggr_int - 3, signed=False),
        "aggr": FixedType(aggr_int + fractional, aggr_int),
        "norm": FixedType(4 + fractional, 4, signed=False),
    }


def _quantized(quantizer: Any, values: np.ndarray) -> np.ndarray:
    return values if quantizer is None else np.asarray(quantizer(values), dtype=np.float32)


def _sublayers(layer: Any) -> list[tuple[Any, Any, Any, Any]]:
    if hasattr(layer, "_transform_layers"):
        return list(layer._transform_layers)
    return [
        (
            layer._input_feature_transform,
            layer._aggregator_distance,
            layer._output_feature_transform,
            layer._output_activation_transform,
        )
    ]


def output_type(layer: Any) -> FixedType | None:
    """The firmware type equal to a quantized GarNet's output quantizer (``quantized_bits``)."""
    act = _sublayers(layer)[-1][3]
    quantizer = getattr(act, "quantizer", None)
    if quantizer is None or type(quantizer).__name__ != "quantized_bits":
        return None
    return FixedType(int(quantizer.bits), int(quantizer.integer) + 1, True, "RND_CONV", "SAT")


def prepare_garnet(model: Any) -> tuple[Any, dict[str, FixedType], list[str]]:
    """Quantized GarNet → the same layer with quantized float weights and ``quantize_transforms=False``.

    Returns the model to convert, ``{layer: result type}`` for the firmware, and notes.
    """
    quantized = [layer for layer in garnet_layers(model) if layer.get_config().get("quantize_transforms")]
    if not quantized:
        return model, {}, []
    from deepsets_trigger.convert.keras_prep import functional_config, model_from_config

    weights: dict[str, list[np.ndarray]] = {}
    types: dict[str, FixedType] = {}
    for layer in quantized:
        if type(_sublayers(layer)[-1][3]).__name__ == "QActivation" and output_type(layer) is None:
            raise ToolkitError(f"GarNet layer {layer.name!r}: only a quantized_bits output quantizer is supported.")
        values = []
        for flr, s, fout, _ in _sublayers(layer):
            fq = flr.get_quantizers() if hasattr(flr, "get_quantizers") else [None, None]
            oq = fout.get_quantizers() if hasattr(fout, "get_quantizers") else [None, None]
            k, b = flr.get_weights()
            values += [_quantized(fq[0], k), _quantized(fq[1], b), *s.get_weights()]
            k, b = fout.get_weights()
            values += [_quantized(oq[0], k), _quantized(oq[1] if len(oq) > 1 else None, b)]
        weights[layer.name] = values
        t = output_type(layer)
        if t is not None:
            types[layer.name] = t
    config = functional_config(model)
    for entry in config["layers"]:
        if entry["config"]["name"] in weights:
            entry["config"]["quantize_transforms"] = False
    rebuilt = model_from_config(config)
    for layer in rebuilt.layers:
        if layer.name in weights:
            layer.set_weights(weights[layer.name])
        elif layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    notes = [
        f"GarNet '{name}': quantized_bits transforms stored as quantized weights (hls4ml would ternarize them)"
        + (f", output typed {types[name].ap()}" if name in types else "")
        for name in weights
    ]
    return rebuilt, types, notes
