"""The Keras model hls4ml converts: the ``keras`` and ``weights`` phases of the fixes, and logits exposed.

:func:`prepare_keras` edits a functional config of the model (the ``keras`` fixes: reserved
names, standalone softmax, a family's layer settings), splits a softmax activation off its layer
and exposes the logits as an extra output so the firmware gap is measured before and after the
softmax tables in one compile, rebuilds the model with the same weights, then runs the
``weights`` fixes (quantized weights stored, trap 1) on the rebuilt copy. The user's model is
never modified.
"""

from __future__ import annotations

from typing import Any

from deepsets_trigger.convert.fixes import FixContext, apply_phase
from deepsets_trigger.convert.functional import functional_config, inbound_names, rebuild, redirect_inbound


def _softmax_layer(name: str) -> dict[str, Any]:
    return {
        "class_name": "Activation",
        "config": {"name": name, "trainable": True, "dtype": "float32", "activation": "softmax"},
        "name": name,
        "inbound_nodes": [],
    }


def split_softmax(cfg: dict[str, Any]) -> list[str]:
    """A layer with ``activation='softmax'`` becomes that layer (linear) + ``Activation('softmax')``."""
    notes = []
    layers = cfg["layers"]
    for layer in list(layers):
        if layer["config"].get("activation") != "softmax" or layer["class_name"] == "Activation":
            continue
        name = layer["config"]["name"]
        soft = _softmax_layer(f"{name}_softmax")
        layer["config"]["activation"] = "linear"
        for other in layers:
            redirect_inbound(other, name, soft["name"])
        for item in cfg["output_layers"]:
            if item[0] == name:
                item[0] = soft["name"]
        soft["inbound_nodes"] = [[[name, 0, 0, {}]]]
        layers.insert(layers.index(layer) + 1, soft)
        notes.append(f"split softmax activation off '{name}' so its logits can be measured")
    return notes


def expose_logits(cfg: dict[str, Any]) -> list[str]:
    """Add the inputs of output softmax activations as model outputs (first); return all output names."""
    by_name = {layer["config"]["name"]: layer for layer in cfg["layers"]}
    outputs = [item[0] for item in cfg["output_layers"]]
    exposed = []
    for out in outputs:
        layer = by_name[out]
        if layer["class_name"] == "Activation" and layer["config"].get("activation") == "softmax":
            logits = inbound_names(layer)[0]
            if logits not in outputs and logits not in exposed:
                exposed.append(logits)
    cfg["output_layers"] = [[n, 0, 0] for n in exposed] + cfg["output_layers"]
    return exposed + outputs


def prepare_keras(model: Any, ctx: FixContext, expose: bool = True) -> tuple[Any, list[str], list[str]]:
    """``(model to convert, output names, notes)``; output names are Keras layer names, logits first."""
    ctx.source_model = model
    cfg = functional_config(model)
    notes = apply_phase("keras", cfg, ctx=ctx)
    notes += split_softmax(cfg)
    outputs = expose_logits(cfg) if expose else [item[0] for item in cfg["output_layers"]]
    prepared = rebuild(cfg, model, ctx.renames)
    notes += apply_phase("weights", prepared, ctx=ctx)
    return prepared, outputs, notes


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
