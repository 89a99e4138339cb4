"""A standalone ``Softmax`` layer generates C++ that does not compile (trap 4b).

Its config template is named ``softmax_configN`` while the layer calls ``Softmax_configN``; the
same function as ``Activation('softmax')`` converts correctly, so the layer is rewritten to it
(over the last axis only: hls4ml has no other).
"""

from __future__ import annotations

from typing import Any

from deepsets_trigger.convert.fixes import Fix, FixContext
from deepsets_trigger.errors import ToolkitError


def _has_softmax_layer(cfg: dict[str, Any], ctx: FixContext) -> bool:
    return any(layer["class_name"] == "Softmax" for layer in cfg["layers"])


def fix_standalone_softmax(cfg: dict[str, Any], ctx: FixContext) -> list[str]:
    notes = []
    for layer in cfg["layers"]:
        if layer["class_name"] != "Softmax":
            continue
        name = layer["config"]["name"]
        axis = layer["config"].get("axis", -1)
        if axis not in (-1, [-1]):
            raise ToolkitError(f"layer {name!r}: softmax over axis {axis} is not supported by hls4ml; use axis=-1.")
        layer["class_name"] = "Activation"
        layer["config"] = {"name": name, "trainable": True, "dtype": "float32", "activation": "softmax"}
        notes.append(f"replaced standalone Softmax layer '{name}' by Activation('softmax') (its C++ does not compile)")
    return notes


FIX = Fix(
    name="standalone_softmax",
    phase="keras",
    summary="a standalone Softmax layer generates C++ that does not compile",
    apply=fix_standalone_softmax,
    applies=_has_softmax_layer,
    trap="4",
    order=20,
)
