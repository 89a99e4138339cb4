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
conversion instead:
the FLR/Fout weights and biases are replaced by their ``quantized_bits`` values and the layer is
handed to hls4ml with ``quantize_transforms=False`` (the fixes in :data:`FIXES`, registered by
the plugin), so the contracted kernel is built from the
quantized weights (stored with hls4ml's 10 fractional bits, RND, SAT); the layer's output
quantizer becomes the GarNet result type (``ap_fixed<total, int+1, AP_RND_CONV, AP_SAT>``), as
QKeras rounds half to even and saturates. No fork, no site-packages edit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepsets_trigger.convert.fixes import Fix, FixContext, LayerTypes, layer_cfg, set_type
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


def _quantized_garnets(cfg: dict[str, Any], ctx: FixContext) -> bool:
    return any(
        layer["class_name"] in GARNET_CLASSES and layer["config"].get("quantize_transforms") for layer in cfg["layers"]
    )


def transforms_unquantized(cfg: dict[str, Any], ctx: FixContext) -> list[str]:
    """``keras`` phase: a quantized GarNet is handed to hls4ml with ``quantize_transforms=False``.

    Its output quantizer becomes the GarNet's result type (applied in the config phase); the
    ``weights`` phase stores the quantized weights (:func:`quantized_transform_weights`).
    """
    notes = []
    for entry in cfg["layers"]:
        if entry["class_name"] not in GARNET_CLASSES or not entry["config"].get("quantize_transforms"):
            continue
        name = entry["config"]["name"]
        layer = ctx.source_model.get_layer(ctx.renames.get(name, name))
        if type(_sublayers(layer)[-1][3]).__name__ == "QActivation" and output_type(layer) is None:
            raise ToolkitError(f"GarNet layer {name!r}: only a quantized_bits output quantizer is supported.")
        entry["config"]["quantize_transforms"] = False
        t = output_type(layer)
        if t is not None:
            ctx.result_types[name] = t
        notes.append(
            f"GarNet '{name}': quantized_bits transforms stored as quantized weights (hls4ml would ternarize them)"
            + (f", output typed {t.ap()}" if t is not None else "")
        )
    return notes


def quantized_transform_weights(model: Any, ctx: FixContext) -> list[str]:
    """``weights`` phase: the FLR/Fout weights and biases of formerly quantized GarNets, quantized."""
    for layer in garnet_layers(model):
        source = ctx.source_model.get_layer(ctx.renames.get(layer.name, layer.name))
        if not source.get_config().get("quantize_transforms"):
            continue
        values = []
        for flr, s, fout, _ in _sublayers(source):
            fq = flr.get_quantizers() if hasattr(flr, "get_quantizers") else [None, None]
            oq = fout.get_quantizers() if hasattr(fout, "get_quantizers") else [None, None]
            k, b = flr.get_weights()
            values += [_quantized(fq[0], k), _quantized(fq[1], b), *s.get_weights()]
            k, b = fout.get_weights()
            values += [_quantized(oq[0], k), _quantized(oq[1] if len(oq) > 1 else None, b)]
        layer.set_weights(values)
    return []


def fix_count_input(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    """The vertex-count input is an integer (``ap_uint<10>``), not the hit type: 128 would wrap."""
    notes = []
    for layer in graph.values():
        if layer.class_name not in GARNET_CLASSES or len(layer.inputs) < 2:
            continue
        count = layer.inputs[1]
        if count in graph and graph[count].class_name == "Input" and count not in ctx.user_results:
            set_type(config, count, "result", COUNT_TYPE)
            notes.append(f"GarNet '{layer.name}': vertex count '{count}' typed {COUNT_TYPE.ap()}")
    return notes


def fix_internal_types(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    """Internal sums and edge weights with 16 fractional bits instead of hls4ml's 10 (a user's kept)."""
    notes = []
    for layer in graph.values():
        if layer.class_name not in GARNET_CLASSES:
            continue
        precision = layer_cfg(config, layer.name)["Precision"]
        n_vertices = layer.input_shape[0] if layer.input_shape else 128
        for var, t in internal_types(n_vertices, layer.reuse_factor or 1).items():
            if not ctx.user_config or var not in precision:
                precision[var] = t.hls()
        notes.append(f"GarNet '{layer.name}': edge weights, aggregates and norm with 16 fractional bits")
    return notes


def _model_has_garnet(model: Any, ctx: FixContext) -> bool:
    return bool(garnet_layers(model))


def _graph_has_garnet(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> bool:
    return any(layer.class_name in GARNET_CLASSES for layer in graph.values())


FIXES = (
    Fix(
        "garnet_quantized_transforms",
        "keras",
        "hls4ml ternarizes a quantized GarNet's quantize_transforms in HLS while Keras uses quantized_bits",
        transforms_unquantized,
        applies=_quantized_garnets,
        trap="5",
        order=40,
    ),
    Fix(
        "garnet_quantized_weights",
        "weights",
        "(with garnet_quantized_transforms) the transforms' quantized_bits weights stored as values",
        quantized_transform_weights,
        applies=_model_has_garnet,
        trap="5",
        order=20,
    ),
    Fix(
        "garnet_count_input",
        "config",
        "GarNet's vertex count takes the hit type (ap_fixed<16,6> wraps 128 hits)",
        fix_count_input,
        applies=_graph_has_garnet,
        order=35,
    ),
    Fix(
        "garnet_internal_types",
        "config",
        "GarNet's internal sums and edge weights have 10 fractional bits (2 % of energy resolution)",
        fix_internal_types,
        applies=_graph_has_garnet,
        order=36,
    ),
)
