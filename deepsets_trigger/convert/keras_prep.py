"""Keras-side fixes applied to a copy of the model before hls4ml sees it.

Each function is one known defect of hls4ml 1.3.0 (DEVELOPERS.md traps), named so it can
be deleted when hls4ml fixes it:

- :func:`prequantize_weights` (trap 1): a Dense on a 3-D input becomes a pointwise Conv1D
  that drops its QKeras quantizers and casts float weights (1.0 wraps to −1.0 at
  ``ap_fixed<8,1>``). Storing ``quantizer(w)`` makes the cast exact.
- :func:`rewrite_graph` (trap 4b, reserved names): a standalone ``Softmax`` layer generates
  C++ that does not compile (``softmax_configN`` vs ``Softmax_configN``), so it becomes
  ``Activation('softmax')``; a Dense with ``activation='softmax'`` is split so its logits
  exist as a tensor; a layer named ``input`` (reserved in hls4ml) is renamed; and the
  logits are exposed as an extra model output so the firmware gap is measured before
  and after the softmax in one compile.
"""

from __future__ import annotations

import json
from typing import Any

from deepsets_trigger.errors import ToolkitError

RESERVED_NAMES = {"input": "input_layer"}


def custom_objects() -> dict[str, Any]:
    """QKeras (and registered families') objects needed to deserialize models."""
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict[str, Any] = {}
    _add_supported_quantized_objects(objects)
    from gnn_keras.layers import custom_objects as garnet_objects

    objects.update(garnet_objects())
    return objects


def _inbound_names(layer_cfg: dict[str, Any]) -> list[str]:
    names = []
    for node in layer_cfg.get("inbound_nodes", []):
        for item in node:
            names.append(item[0])
    return names


def _rename_inbound(layer_cfg: dict[str, Any], old: str, new: str) -> None:
    for node in layer_cfg.get("inbound_nodes", []):
        for item in node:
            if item[0] == old:
                item[0] = new


def functional_config(model: Any) -> dict[str, Any]:
    """The model's functional config (Sequential made functional), deep-copied."""
    from tensorflow import keras

    if isinstance(model, keras.Sequential):
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    return json.loads(json.dumps(model.get_config(), default=_serialise))


def model_from_config(cfg: dict[str, Any]) -> Any:
    """Build a functional model from :func:`functional_config` output (QKeras quantizers revived)."""
    from tensorflow import keras

    for layer in cfg["layers"]:
        if str(layer.get("module", "")).startswith("qkeras"):
            layer["config"] = _revive_quantizers(layer["config"])
    return keras.Model.from_config(cfg, custom_objects=custom_objects())


def _serialise(value: Any) -> Any:
    from tensorflow import keras

    return keras.saving.serialize_keras_object(value)


def _revive_quantizers(value: Any) -> Any:
    """QKeras layers' ``from_config`` takes quantizer objects, not Keras 2.15's serialised dicts."""
    if isinstance(value, dict):
        if str(value.get("module", "")).startswith("qkeras.quantizers") and "class_name" in value:
            from qkeras.quantizers import get_quantizer

            return get_quantizer({"class_name": value["class_name"], "config": value.get("config", {})})
        return {k: _revive_quantizers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_revive_quantizers(v) for v in value]
    return value


def _softmax_layer(name: str) -> dict[str, Any]:
    return {
        "class_name": "Activation",
        "config": {"name": name, "trainable": True, "dtype": "float32", "activation": "softmax"},
        "name": name,
        "inbound_nodes": [],
    }


def rewrite_graph(model: Any, expose_logits: bool = True) -> tuple[Any, list[str], list[str]]:
    """Return ``(model, output_names, notes)`` with the graph-level fixes applied.

    ``output_names`` are the Keras layer names of the rewritten model's outputs, logits first
    when exposed. Weights are copied by layer name.
    """

    cfg = functional_config(model)
    notes: list[str] = []
    layers = cfg["layers"]
    by_name = {layer["config"]["name"]: layer for layer in layers}
    renames: dict[str, str] = {}

    def rename(old: str, new: str) -> None:
        by_name[new] = by_name.pop(old)
        by_name[new]["config"]["name"] = new
        by_name[new]["name"] = new
        for other in layers:
            _rename_inbound(other, old, new)
        for key in ("input_layers", "output_layers"):
            for item in cfg[key]:
                if item[0] == old:
                    item[0] = new

    for old, new in RESERVED_NAMES.items():
        if old in by_name:
            rename(old, new)
            renames[new] = old
            notes.append(f"renamed layer '{old}' to '{new}': 'input' is a reserved layer name in hls4ml")

    for layer in list(layers):
        name = layer["config"]["name"]
        if layer["class_name"] == "Softmax":
            axis = layer["config"].get("axis", -1)
            if axis not in (-1, [-1]):
                raise ToolkitError(f"layer {name!r}: softmax over axis {axis} is not supported by hls4ml; use axis=-1.")
            layer["class_name"] = "Activation"
            layer["config"] = {"name": name, "trainable": True, "dtype": "float32", "activation": "softmax"}
            notes.append(
                f"replaced standalone Softmax layer '{name}' by Activation('softmax') (its C++ does not compile)"
            )
        elif layer["config"].get("activation") == "softmax" and layer["class_name"] not in ("Activation",):
            soft = _softmax_layer(f"{name}_softmax")
            layer["config"]["activation"] = "linear"
            for other in layers:
                _rename_inbound(other, name, soft["name"])
            for item in cfg["output_layers"]:
                if item[0] == name:
                    item[0] = soft["name"]
            soft["inbound_nodes"] = [[[name, 0, 0, {}]]]
            layers.insert(layers.index(layer) + 1, soft)
            by_name[soft["name"]] = soft
            notes.append(f"split softmax activation off '{name}' so its logits can be measured")

    outputs = [item[0] for item in cfg["output_layers"]]
    if expose_logits:
        exposed = []
        for out in outputs:
            layer = by_name[out]
            if layer["class_name"] == "Activation" and layer["config"].get("activation") == "softmax":
                logits = _inbound_names(layer)[0]
                if logits not in outputs and logits not in exposed:
                    exposed.append(logits)
        if exposed:
            cfg["output_layers"] = [[n, 0, 0] for n in exposed] + cfg["output_layers"]
            outputs = exposed + outputs
    rebuilt = model_from_config(cfg)
    for layer in rebuilt.layers:
        source = model.get_layer(renames.get(layer.name, layer.name)) if layer.weights else None
        if source is not None:
            layer.set_weights(source.get_weights())
    return rebuilt, outputs, notes


def _quantizer_alpha(quantizer: Any) -> Any:
    alpha = getattr(quantizer, "alpha", None)
    return None if alpha is None or (isinstance(alpha, (int, float)) and alpha == 1) else alpha


def prequantize_weights(model: Any) -> list[str]:
    """Store ``quantizer(w)`` in every QKeras layer in place (trap 1); return notes.

    Quantizers are idempotent on their own grid, so the Keras forward pass is unchanged
    while the values hls4ml casts become exactly representable.
    """
    notes = []
    for layer in model.layers:
        quantizers = getattr(layer, "quantizers", None)
        if not quantizers or not layer.get_weights():
            continue
        three_d = len(layer.input_shape) > 2 if hasattr(layer, "input_shape") else False
        for q in quantizers:
            if q is not None and three_d and _quantizer_alpha(q) is not None:
                raise ToolkitError(
                    f"layer {layer.name!r}: a QKeras quantizer with alpha={q.alpha!r} on a Dense over a 3-D input "
                    "is not converted faithfully by hls4ml 1.3.0 (the pointwise Conv1D drops the scale); "
                    "use alpha=1 in quantized_bits."
                )
        weights = layer.get_weights()
        new = []
        padded = (list(quantizers) + [None] * len(weights))[: len(weights)]  # no bias: fewer weights
        for w, q in zip(weights, padded, strict=True):
            new.append(q(w).numpy() if q is not None else w)
        layer.set_weights(new)
        if three_d:
            notes.append(f"stored quantized weights of '{layer.name}' (3-D input: hls4ml drops its quantizers)")
    return notes


def input_quantizer_layer(model: Any) -> Any:
    """The QKeras ``quantized_bits`` activation right after the (single) input, if any."""
    first = [layer for layer in model.layers if layer.__class__.__name__ != "InputLayer"]
    if not first:
        return None
    layer = first[0]
    quantizer = getattr(layer, "quantizer", None)
    if layer.__class__.__name__ == "QActivation" and quantizer.__class__.__name__ == "quantized_bits":
        return layer
    return None
