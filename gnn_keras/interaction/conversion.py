"""The interaction network through hls4ml: types that cannot overflow, rules, and its two fixes.

The fixes (:data:`FIXES`, registered by the plugin with the core's fix registry):
``interaction_edge_logits`` (``keras`` phase) exposes the edge logit as an output before the
sigmoid table, ``interaction_types`` (``config`` phase, after the core's ``input_type``) types the
edge index and mask as integers and writes the aggregation accumulators into the config.

Types (pure functions of the graph sizes and the hls4ml types, used by the hls4ml layers and by
:func:`fix_interaction_types`):

- the edge index is ``ap_uint<⌈log2 N_max⌉>`` and the edge mask ``ap_uint<1>``: an index in the
  node features' type (what a generic input fix would give it) wraps above a few nodes;
- the aggregation's accumulator holds the sum of E_max messages exactly: a node can receive every
  edge, so the message type ``ap_[u]fixed<W, I>`` gains ``⌈log2 E_max⌉`` integer bits (the
  average-pooling fix's rule, with the in-degree bound instead of the set size). hls4ml's own
  default would be the model precision — ``ap_fixed<16,6>`` wraps at 32, i.e. at four full-scale
  8-bit messages with 3 integer bits.
"""

from __future__ import annotations

import math
from typing import Any

from deepsets_trigger.convert.fixes import Fix, FixContext, LayerTypes, layer_cfg, set_type
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.precision import FixedType

GATHER = "EdgeGather"
AGGREGATE = "EdgeAggregate"
INTERACTION_CLASSES = (GATHER, AGGREGATE)
AGGREGATIONS = ("sum", "mean")
MASK_TYPE = FixedType(1, 1, signed=False)
LOGIT_LAYERS = ("logit_quant", "edge_logit")  # the logit, quantized when A_O is set


def index_type(n_nodes: int) -> FixedType:
    """``ap_uint<⌈log2 N_max⌉>`` (at least one bit): every node slot and nothing more."""
    bits = max(1, math.ceil(math.log2(max(n_nodes, 2))))
    return FixedType(bits, bits, signed=False)


def degree_bits(max_degree: int) -> int:
    """Bits of a count 0…``max_degree``."""
    return max(1, math.ceil(math.log2(max_degree + 1)))


def accumulator_type(message: FixedType, max_degree: int) -> FixedType:
    """The type that holds the sum of ``max_degree`` values of type ``message`` exactly.

    Args:
        message: the summed messages' type.
        max_degree: the largest possible in-degree (E_max when nothing better is known).

    Returns:
        ``message`` with ``⌈log2 max_degree⌉`` more integer bits (same fractional bits and sign).
    """
    extra = math.ceil(math.log2(max(max_degree, 1)))
    return FixedType(message.width + extra, message.integer + extra, message.signed)


def mean_result_type(message: FixedType, max_degree: int) -> FixedType:
    """Default result of a mean without a quantizer: the message range, ``⌈log2 max_degree⌉`` more fractional bits."""
    extra = math.ceil(math.log2(max(max_degree, 2)))
    return FixedType(message.width + extra, message.integer, message.signed)


def interaction_layers(model: Any) -> list[Any]:
    """The model's gather / aggregate layers."""
    return [layer for layer in model.layers if type(layer).__name__ in INTERACTION_CLASSES]


def check_interaction(model: Any, hls: Any) -> None:
    """Raise a :class:`ToolkitError` naming the rule an interaction network breaks for hls4ml.

    Rules: Vivado/Vitis (the extension is registered for them), ``io_parallel`` (the layers index
    whole arrays), an integer edge-index input, and no hls4ml ``bit_exact`` flow (1.3.0 raises
    ``NotImplementedError`` for custom layers; the toolkit's types are exact without it).
    """
    layers = interaction_layers(model)
    if not layers:
        return
    where = f"interaction-network layer {layers[0].name!r}"
    if hls.backend not in ("Vivado", "Vitis"):
        raise ToolkitError(
            f"{where}: the gather/aggregate extension is registered for the Vivado and Vitis backends; "
            f"set hls.backend: Vitis, not {hls.backend!r}."
        )
    if hls.io_type != "io_parallel":
        raise ToolkitError(f"{where}: gather and aggregate index whole arrays; set hls.io_type: io_parallel.")
    if getattr(hls, "bit_exact", False):
        raise ToolkitError(
            f"{where}: hls.bit_exact runs hls4ml's bit-exact flow, which 1.3.0 cannot apply to custom layers "
            "(NotImplementedError: no produce_kif); set hls.bit_exact: false (the toolkit types them exactly)."
        )
    for layer in layers:
        index = layer.input[1]
        if not index.dtype.is_integer:
            raise ToolkitError(
                f"interaction-network layer {layer.name!r}: its edge index is {index.dtype.name}; make the index "
                "Input integer (keras.Input((E_max, 2), dtype='int32')) so hls4ml types it as an integer."
            )


def logit_layer(layer_names: list[str]) -> str | None:
    """The layer whose output is the edge logit (``logit_quant`` when the logit is quantized), if any."""
    return next((name for name in LOGIT_LAYERS if name in layer_names), None)


def expose_edge_logits(functional: dict[str, Any], ctx: FixContext | None = None) -> list[str]:
    """Make the edge logit a first output of a functional Keras config, in place (before the sigmoid).

    The form of a ``keras``-phase fix: the firmware's sigmoid is a lookup table, so decisions and
    the Keras-vs-firmware difference are measured on the logits, in the same compile.
    """
    names = [layer["config"]["name"] for layer in functional["layers"]]
    logit = logit_layer(names)
    outputs = [item[0] for item in functional["output_layers"]]
    if logit is None or logit in outputs:
        return []
    functional["output_layers"] = [[logit, 0, 0], *functional["output_layers"]]
    return [f"exposed the edge logits '{logit}' as an output (before the sigmoid)"]


def has_interaction_layers(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext | None = None) -> bool:
    """``applies`` of :func:`fix_interaction_types`: the converted graph has gather/aggregate layers."""
    return any(layer.class_name in INTERACTION_CLASSES for layer in graph.values())


def fix_interaction_types(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    """A ``config``-phase fix: integer index / mask input types and explicit aggregation accumulators.

    ``graph`` is the core's ``read_graph`` of a first conversion (``LayerTypes`` per layer). Runs
    after the core's input fix; a user's own input types (``ctx.user_results``) and accumulators
    (any ``accum`` other than hls4ml's ``auto``, from ``quantization.precision`` or
    ``--hls-config``) are kept. The accumulator is what the hls4ml layer would derive itself;
    writing it into the config makes ``hls4ml_config.yml`` say it.
    """
    notes = []
    gathers = [layer for layer in graph.values() if layer.class_name == GATHER and len(layer.inputs) > 1]
    n_nodes = {layer.inputs[1]: int(layer.input_shape[0]) for layer in gathers if layer.input_shape}
    wanted = {index: index_type(n) for index, n in n_nodes.items()}
    for layer in graph.values():
        if layer.class_name == AGGREGATE and len(layer.inputs) > 2:
            wanted[layer.inputs[2]] = MASK_TYPE
    for name, t in wanted.items():
        if name in graph and graph[name].class_name == "Input" and name not in ctx.user_results:
            set_type(config, name, "result", t)
            what = "mask" if t == MASK_TYPE else "index"
            notes.append(f"input '{name}' retyped {t.ap()}: the edge {what} is an integer, not the node features' type")
    for layer in graph.values():
        if layer.class_name != AGGREGATE or layer.input_type is None or not layer.input_shape:
            continue
        precision = layer_cfg(config, layer.name)["Precision"]
        if precision.get("accum") not in (None, "auto"):
            continue
        n_edges = int(layer.input_shape[0])
        accum = accumulator_type(layer.input_type, n_edges)
        precision["accum"] = accum.hls()
        notes.append(
            f"aggregate '{layer.name}': accumulator {accum.ap()} for up to {n_edges} messages "
            f"of {layer.input_type.ap()}"
        )
    return notes


def _exposes(functional: dict[str, Any], ctx: FixContext | None) -> bool:
    """``applies`` of :func:`expose_edge_logits`: unless ``hls.expose_logits`` is false."""
    return ctx is None or ctx.hls is None or bool(getattr(ctx.hls, "expose_logits", True))


FIXES = (
    Fix(
        "interaction_edge_logits",
        "keras",
        "the edge scores come from hls4ml's sigmoid table; decisions and gaps are measured on the logits",
        expose_edge_logits,
        applies=_exposes,
        order=45,
    ),
    Fix(
        "interaction_types",
        "config",
        "a generic input type wraps the edge index; hls4ml's default accumulator wraps a summed aggregate",
        fix_interaction_types,
        applies=has_interaction_layers,
        order=34,  # after the core's input_type (30): the edge index and mask are retyped
    ),
)
