"""Per-constituent Dense layers process every constituent in parallel (``ParallelizationFactor`` = N).

A Dense on a (N, F) set becomes a Conv1D whose ``n_partitions = out_width / ParallelizationFactor``
(hls4ml ``init_conv1d``); with the default factor 1 the positions are processed one after another
(II = N × RF), unlike the published DeepSets firmware. With one partition the Latency strategy uses
``BatchedDenseForConv1D`` (all positions in one pipeline, II = RF) and distributed arithmetic one
DA kernel per position (II = 1). A factor the user set is kept.
"""

from __future__ import annotations

from typing import Any

from deepsets_trigger.convert.fixes import Fix, FixContext, LayerTypes, layer_cfg


def fix_pointwise_parallel(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    notes = []
    for layer in graph.values():
        if not layer.class_name.startswith(("Conv1D", "PointwiseConv1D")) or layer.mult_shape is None:
            continue
        if len(layer.input_shape) != 2 or layer.mult_shape[0] != layer.input_shape[-1]:
            continue  # not a per-position (kernel width 1) layer
        section = layer_cfg(config, layer.name)
        if "ParallelizationFactor" in section:
            continue
        width = layer.input_shape[0]
        section["ParallelizationFactor"] = width
        notes.append(f"'{layer.name}': ParallelizationFactor {width} (all {width} positions in parallel)")
    return notes


FIX = Fix(
    name="pointwise_parallel",
    phase="config",
    summary="a per-constituent Dense (pointwise Conv1D) processes the constituents one after another",
    apply=fix_pointwise_parallel,
    order=20,
)
