"""The types a layer's generated C++ config names (``typedef <type> accum_t;`` …).

hls4ml writes each config struct from the layer's named types, but some templates swap
one for another (the softmax uses ``exp_table_t`` as ``inv_inp_t`` when the latter is the
model default) or write a literal type (the softmax's derived ``inp_norm_t``). Reading the
typedef from the generated text and resolving its name against the layer's named types
gives exactly the type the compiled code uses.
"""

from __future__ import annotations

import re
from typing import Any

from deepsets_trigger.emulate.registry import TwinUnsupported, attr_type, config_text, fixed
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.precision import FixedType, parse_precision


def config_type(layer: Any, alias: str) -> FixedType:
    """The type behind ``typedef X alias;`` in the layer's C++ config (the attribute ``alias`` if absent)."""
    match = re.search(rf"typedef\s+(.+?)\s+{re.escape(alias)}\s*;", config_text(layer))
    if match is None:
        return attr_type(layer, alias)
    name = match.group(1).strip()
    for value in layer.attributes.attributes.values():
        if getattr(value, "name", None) == name and hasattr(value, "precision"):
            return fixed(layer, value.precision, alias)
    try:
        return parse_precision(name.replace(" ", ""), where=alias)
    except ToolkitError:
        raise TwinUnsupported(layer.name, layer.class_name, f"cannot resolve {alias} = {name}") from None
