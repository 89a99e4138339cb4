"""A Keras model as an editable functional config, and back (weights copied by layer name)."""

from __future__ import annotations

import json
from typing import Any

from deepsets_trigger import registry


def custom_objects() -> dict[str, Any]:
    """QKeras objects and every registered family's layers: what deserialising a model needs."""
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict[str, Any] = {}
    _add_supported_quantized_objects(objects)
    objects.update(registry.custom_objects())
    return objects


def functional_config(model: Any) -> dict[str, Any]:
    """The model's functional config (Sequential made functional), deep-copied."""
    from tensorflow import keras

    if isinstance(model, keras.Sequential):
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    return json.loads(json.dumps(model.get_config(), default=_serialise))


def model_from_config(cfg: dict[str, Any], extra: dict[str, Any] | None = None) -> Any:
    """Build a functional model from :func:`functional_config` output (QKeras quantizers revived).

    ``extra``: more classes by serialised name (e.g. :func:`layer_classes` of the source model).
    """
    from tensorflow import keras

    for layer in cfg["layers"]:
        if str(layer.get("module", "")).startswith("qkeras"):
            layer["config"] = _revive_quantizers(layer["config"])
    return keras.Model.from_config(cfg, custom_objects={**custom_objects(), **(extra or {})})


def layer_classes(model: Any) -> dict[str, type]:
    """The classes of ``model``'s layers by the name its config stores (``pkg>Name`` when registered).

    A loaded model's classes were accepted when it was loaded (a family's, or a trusted module's
    with ``--trust-custom-layers``), so rebuilding it may use them: no new code is imported.
    """
    from tensorflow import keras

    return {keras.saving.get_registered_name(type(layer)): type(layer) for layer in model.layers}


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


def inbound_names(layer_cfg: dict[str, Any]) -> list[str]:
    """Names of the layers feeding ``layer_cfg``."""
    return [item[0] for node in layer_cfg.get("inbound_nodes", []) for item in node]


def rename_layer(cfg: dict[str, Any], old: str, new: str) -> None:
    """Rename a layer everywhere in a functional config (its entry, consumers, model inputs/outputs)."""
    for layer in cfg["layers"]:
        if layer["config"]["name"] == old:
            layer["config"]["name"] = new
            layer["name"] = new
        redirect_inbound(layer, old, new)
    for key in ("input_layers", "output_layers"):
        for item in cfg[key]:
            if item[0] == old:
                item[0] = new


def redirect_inbound(layer_cfg: dict[str, Any], old: str, new: str) -> None:
    """Make ``layer_cfg`` read from ``new`` where it read from ``old``."""
    for node in layer_cfg.get("inbound_nodes", []):
        for item in node:
            if item[0] == old:
                item[0] = new


def rebuild(cfg: dict[str, Any], source: Any, renames: dict[str, str]) -> Any:
    """The model of ``cfg`` with ``source``'s weights, copied by (original) layer name."""
    rebuilt = model_from_config(cfg, layer_classes(source))
    for layer in rebuilt.layers:
        if layer.weights:
            layer.set_weights(source.get_layer(renames.get(layer.name, layer.name)).get_weights())
    return rebuilt
