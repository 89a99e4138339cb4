"""A reuse factor invalid for a 3-D Dense survives its conversion to a pointwise Conv1D and aborts the C++.

hls4ml validates the reuse factor of a Dense before turning a 3-D Dense into a pointwise Conv1D,
which then takes the invalid value back from the config: its C++ asserts at run time ("The current
Reuse Factor is not allowed") and aborts the process. Each weighted layer gets the valid reuse
factor closest to the requested one; a Conv1D under the Resource strategy also needs
``RF <= filt_width * n_chan`` (``nnet_conv1d_resource.h``), which hls4ml's list does not apply.
"""

from __future__ import annotations

from typing import Any

from deepsets_trigger.convert.fixes import Fix, FixContext, LayerTypes, layer_cfg


def fix_reuse_factor(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    from hls4ml.backends import get_backend

    backend = get_backend(ctx.backend)
    notes = []
    for layer in graph.values():
        if layer.mult_shape is None or not layer.has_weights:
            continue
        section = config.get("LayerName", {}).get(layer.name, {})
        wanted = int(section.get("ReuseFactor", ctx.reuse_factor))
        valid = backend.get_valid_reuse_factors(*layer.mult_shape)
        strategy = str(section.get("Strategy", config.get("Model", {}).get("Strategy", "Latency"))).lower()
        if layer.class_name.startswith(("Conv1D", "PointwiseConv1D")) and strategy == "resource":
            valid = [rf for rf in valid if rf <= layer.mult_shape[0]] or [1]
        if wanted in valid:
            continue
        chosen = backend.get_closest_reuse_factor(valid, wanted)
        layer_cfg(config, layer.name)["ReuseFactor"] = chosen
        n_in, n_out = layer.mult_shape
        shown = ", ".join(map(str, valid[:12])) + (", …" if len(valid) > 12 else "")
        notes.append(
            f"reuse factor of '{layer.name}' ({n_in}×{n_out}): {wanted} is not valid, using {chosen} (valid: {shown})"
        )
    return notes


FIX = Fix(
    name="reuse_factor",
    phase="config",
    summary="a reuse factor invalid for a 3-D Dense survives the pointwise Conv1D rewrite and aborts the C++",
    apply=fix_reuse_factor,
    order=10,
)
