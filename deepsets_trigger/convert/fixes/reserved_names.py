"""A layer named ``input`` clashes with a name hls4ml reserves: it is renamed before conversion."""

from __future__ import annotations

from typing import Any

from deepsets_trigger.convert.fixes import Fix, FixContext
from deepsets_trigger.convert.functional import rename_layer

RESERVED_NAMES = {"input": "input_layer"}


def _has_reserved(cfg: dict[str, Any], ctx: FixContext) -> bool:
    return any(layer["config"]["name"] in RESERVED_NAMES for layer in cfg["layers"])


def fix_reserved_names(cfg: dict[str, Any], ctx: FixContext) -> list[str]:
    notes = []
    for old, new in RESERVED_NAMES.items():
        if any(layer["config"]["name"] == old for layer in cfg["layers"]):
            rename_layer(cfg, old, new)
            ctx.renames[new] = old
            notes.append(f"renamed layer '{old}' to '{new}': 'input' is a reserved layer name in hls4ml")
    return notes


FIX = Fix(
    name="reserved_names",
    phase="keras",
    summary="a layer named 'input' clashes with a name hls4ml reserves",
    apply=fix_reserved_names,
    applies=_has_reserved,
    order=10,
)
