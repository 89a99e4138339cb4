"""hls4ml-config fixes computed from a first (uncompiled) conversion.

Conversion runs twice: once to read the types hls4ml infers, then with this module's
corrections. Each fix is one named function ``fix_*(config, graph, context) -> notes``
that edits ``config['LayerName']`` in place and is tested on its own. Together with
:mod:`deepsets_trigger.convert.keras_prep` this is the list of known hls4ml 1.3.0
defects the toolkit handles:

- :func:`fix_input_type` (trap 4a): the Input's type must be the input quantizer's, or the
  float → fixed conversion truncates before the quantizer rounds.
- :func:`fix_pooling_accumulator` (trap 2): ``GlobalAveragePooling1D`` sums and divides in
  ``accum_t`` (the model default), which overflows and truncates; it gets
  ``log2(N)`` more integer and fractional bits than its input.
- :func:`fix_logits_type` (trap 3): the inferred result type of the layer feeding a softmax
  can be huge, and the softmax indexes its exp table with the top 10 bits of that type,
  so every small logit difference maps to one entry; the logits get the integer bits of
  the observed range (×2 margin) and saturate.
- :func:`fix_linear_passthrough`: hls4ml inserts ``<layer>_linear`` activations whose
  ``auto`` result falls back to ``fixed<16,6>``, silently truncating logits/regression
  outputs; they take their producer's type.
- :func:`fix_softmax_tables` (trap 3): unsigned, saturating table types sized for
  probabilities, and a normalised-input type whose top bits resolve 1/128.
- :func:`fix_pointwise_parallel`: a Dense on a 3-D input becomes a 1-D convolution whose
  default ``ParallelizationFactor`` 1 makes ``n_partitions`` = the set size, so hls4ml 1.3.0
  processes the constituents one after another (``conv_1d_latency_cl``: II = N × RF); the
  published DeepSets firmware processes them side by side (``BatchedDenseForConv1D``, II = RF),
  which ``ParallelizationFactor`` = N selects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deepsets_trigger.precision import FixedType, from_hls4ml, integer_bits_for, parse_precision

MAX_LOGIT_FRACTIONAL = 12


@dataclass
class LayerTypes:
    """What a phase-1 conversion says about one layer."""

    name: str
    class_name: str
    inputs: list[str]
    input_type: FixedType | None
    result: FixedType | None
    accum: FixedType | None = None
    input_shape: tuple[int, ...] = ()
    activation: str | None = None
    pool_op: str | None = None
    has_weights: bool = False
    mult_shape: tuple[int, int] | None = None  # (inputs, outputs) of the multiplications
    reuse_factor: int | None = None

    @property
    def n_in(self) -> int:
        """Elements reduced per output by pooling: all but the channel axis."""
        return int(np.prod(self.input_shape[:-1])) if len(self.input_shape) > 1 else 0


@dataclass
class FixContext:
    """What the fixes need beyond the graph: user-set types and calibration ranges."""

    user_results: set[str] = field(default_factory=set)  # layers whose result type the user chose
    output_ranges: dict[str, float] = field(default_factory=dict)  # Keras layer -> max |value|
    input_quantizer_type: FixedType | None = None
    input_precision: FixedType | None = None
    softmax_table_size: int | None = 1024  # None: keep the user's (or hls4ml's) table size
    reuse_factor: int = 1  # the requested model-wide reuse factor
    backend: str = "Vitis"
    user_config: bool = False  # the starting config is the user's hls4ml config, not generated


def read_graph(hls_model: Any) -> dict[str, LayerTypes]:
    """Per-layer types of a converted (not necessarily compiled) hls4ml model."""
    graph: dict[str, LayerTypes] = {}
    for layer in hls_model.get_layers():
        result = from_hls4ml(layer.get_output_variable().type.precision)
        accum = layer.get_attr("accum_t")
        inp = layer.get_input_variable() if layer.inputs else None
        graph[layer.name] = LayerTypes(
            name=layer.name,
            class_name=layer.class_name,
            inputs=[_producer(hls_model, i) for i in layer.inputs],
            input_type=from_hls4ml(inp.type.precision) if inp is not None else None,
            result=result,
            accum=from_hls4ml(accum.precision) if accum is not None else None,
            input_shape=tuple(int(d) for d in inp.shape) if inp is not None else (),
            activation=layer.get_attr("activation"),
            pool_op=layer.get_attr("pool_op"),
            has_weights=bool(getattr(layer, "weights", None)),
            mult_shape=_mult_shape(layer),
            reuse_factor=layer.get_attr("reuse_factor"),
        )
    return graph


def _mult_shape(layer: Any) -> tuple[int, int] | None:
    if layer.get_attr("n_filt") is not None and layer.get_attr("n_chan") is not None:  # Conv1D / pointwise
        return int(layer.get_attr("n_chan")) * int(layer.get_attr("filt_width", 1)), int(layer.get_attr("n_filt"))
    if layer.get_attr("n_in") is not None and layer.get_attr("n_out") is not None:  # Dense
        return int(layer.get_attr("n_in")), int(layer.get_attr("n_out"))
    return None


def _producer(hls_model: Any, tensor: str) -> str:
    for layer in hls_model.get_layers():
        if tensor in layer.outputs:
            return layer.name
    return tensor


def _layer_cfg(config: dict[str, Any], name: str) -> dict[str, Any]:
    layer = config.setdefault("LayerName", {}).setdefault(name, {})
    precision = layer.get("Precision")
    if not isinstance(precision, dict):
        layer["Precision"] = {} if precision is None else {"default": precision}
    return layer


def _set(config: dict[str, Any], name: str, kind: str, t: FixedType) -> None:
    _layer_cfg(config, name)["Precision"][kind] = t.hls()


def fix_input_type(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    """Input type = the input quantizer's type (bit-exact inputs), else ``input_precision``."""
    notes = []
    for layer in graph.values():
        if layer.class_name != "Input":
            continue
        wanted = ctx.input_quantizer_type or ctx.input_precision
        if wanted is None or layer.name in ctx.user_results:
            continue
        _set(config, layer.name, "result", wanted)
        why = "its input quantizer's type" if ctx.input_quantizer_type else "quantization.input_precision"
        notes.append(f"input '{layer.name}' typed {wanted.ap()} ({why})")
    return notes


def fix_garnet_count_input(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    """GarNet's vertex-count input is an integer (``ap_uint<10>``), not the hit type: 128 would wrap."""
    from gnn_keras.conversion import COUNT_TYPE, GARNET_CLASSES

    notes = []
    for layer in graph.values():
        if layer.class_name not in GARNET_CLASSES or len(layer.inputs) < 2:
            continue
        count = layer.inputs[1]
        if count in graph and graph[count].class_name == "Input" and count not in ctx.user_results:
            _set(config, count, "result", COUNT_TYPE)
            notes.append(f"GarNet '{layer.name}': vertex count '{count}' typed {COUNT_TYPE.ap()}")
    return notes


def fix_garnet_internal_types(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    """GarNet's internal sums and edge weights get 16 fractional bits instead of hls4ml's 10 (a user's kept)."""
    from gnn_keras.conversion import internal_types

    notes = []
    for layer in graph.values():
        if layer.class_name not in ("GarNet", "GarNetStack"):
            continue
        precision = _layer_cfg(config, layer.name).setdefault("Precision", {})
        if not isinstance(precision, dict):
            continue
        for var, t in internal_types(
            layer.input_shape[0] if layer.input_shape else 128, layer.reuse_factor or 1
        ).items():
            if not ctx.user_config or var not in precision:
                precision[var] = t.hls()
        notes.append(f"GarNet '{layer.name}': edge weights, aggregates and norm with 16 fractional bits")
    return notes


def fix_pooling_accumulator(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    """Average pooling: accumulate with log2(N) extra integer and fractional bits."""
    notes = []
    for layer in graph.values():
        if not layer.class_name.startswith(("GlobalPooling", "Pooling")) or layer.input_type is None:
            continue
        t = layer.input_type
        if layer.pool_op != "Average":
            _set(config, layer.name, "accum", t)  # max returns through accum_t: keep the input type
            continue
        extra = max(1, math.ceil(math.log2(max(layer.n_in, 2))))
        accum = FixedType(t.width + 2 * extra, t.integer + extra, t.signed)
        _set(config, layer.name, "accum", accum)
        if layer.name not in ctx.user_results:
            _set(config, layer.name, "result", FixedType(t.width + extra, t.integer, t.signed))
        notes.append(f"pooling '{layer.name}': accumulator {accum.ap()} for {layer.n_in} inputs of {t.ap()}")
    return notes


def _softmax_inputs(graph: dict[str, LayerTypes]) -> list[tuple[str, str]]:
    """(producer of the logits, the softmax layer) pairs, skipping inserted linear layers."""
    pairs = []
    for layer in graph.values():
        if layer.class_name != "Softmax" and layer.activation != "softmax":
            continue
        producer = layer.inputs[0]
        if producer.endswith("_linear") and producer in graph:
            producer = graph[producer].inputs[0]
        pairs.append((producer, layer.name))
    return pairs


def fix_logits_type(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    """Logits: integer bits from the observed range, fractional bits kept (≤ 12), saturating."""
    notes = []
    for producer, _softmax in _softmax_inputs(graph):
        if producer in ctx.user_results or producer not in graph:
            continue
        inferred = graph[producer].result
        max_abs = ctx.output_ranges.get(producer)
        if inferred is None or max_abs is None:
            continue
        integer = integer_bits_for(2.0 * max_abs)
        fractional = max(8, min(inferred.fractional, MAX_LOGIT_FRACTIONAL))
        # hls4ml shrinks the softmax tables to 2**(width of the softmax input)
        table = ctx.softmax_table_size or 1024
        fractional = max(fractional, math.ceil(math.log2(table)) - integer)
        t = FixedType(integer + fractional, integer, True, "RND_CONV", "SAT")
        _set(config, producer, "result", t)
        notes.append(
            f"logits '{producer}': {t.ap()} instead of inferred {inferred.ap()} (observed |max| {max_abs:.3g})"
        )
    return notes


def fix_linear_passthrough(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    """``<layer>_linear`` activations inserted by hls4ml take their producer's final type.

    hls4ml inserts them after layers with a linear activation and removes them again only
    when the types already match, so the first conversion may not show the ones that the
    final one keeps: every layer that can carry one gets the entry.
    """
    notes = []
    for layer in graph.values():
        if not layer.has_weights or f"{layer.name}_linear" in ctx.user_results:
            continue
        chosen = config.get("LayerName", {}).get(layer.name, {}).get("Precision", {})
        text = chosen.get("result") if isinstance(chosen, dict) else None
        t = parse_precision(text) if text and text != "auto" else layer.result
        if t is None:
            continue
        _set(config, f"{layer.name}_linear", "result", t)
        if text and text != "auto":
            notes.append(f"linear '{layer.name}_linear' passes {layer.name}'s type {t.ap()} through")
    return notes


def fix_softmax_tables(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    """Probability-sized softmax tables; user-set table types are kept."""
    notes = []
    for _producer, softmax in _softmax_inputs(graph):
        n = max(2, graph[softmax].input_shape[-1] if graph[softmax].input_shape else 2)
        extra = math.ceil(math.log2(n))
        cfg = _layer_cfg(config, softmax)
        wanted = {
            "exp_table_t": FixedType(18, 1, False, "RND", "SAT"),
            "inv_table_t": FixedType(18, 1, False, "RND", "SAT"),
            "inv_inp_t": FixedType(18, extra + 1, False, "RND", "SAT"),
            "accum_t": FixedType(18 + extra, 1 + extra, False, "RND", "SAT"),
            "inp_norm_t": FixedType(16, 3, False, "RND", "SAT"),
        }
        for key, t in wanted.items():
            if key not in cfg:
                cfg[key] = t.hls()
        if ctx.softmax_table_size is not None:
            cfg["TableSize"] = ctx.softmax_table_size
        cfg.setdefault("TableSize", 1024)
        cfg["Precision"].pop("accum", None)
        if softmax not in ctx.user_results:
            cfg["Precision"]["result"] = FixedType(16, 1, False, "RND", "SAT").hls()
        notes.append(f"softmax '{softmax}': table size {cfg['TableSize']}, normalised input {cfg['inp_norm_t']}")
    return notes


def fix_reuse_factor(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    """Each weighted layer gets the valid reuse factor closest to the requested one.

    hls4ml validates the reuse factor of a Dense before turning a 3-D Dense into a pointwise
    Conv1D, which then takes the invalid value back from the config: its C++ asserts at run
    time ("The current Reuse Factor is not allowed") and aborts the process.
    """
    from hls4ml.backends import get_backend

    backend = get_backend(ctx.backend)
    notes = []
    for layer in graph.values():
        if layer.mult_shape is None or not layer.has_weights:
            continue
        section = config.get("LayerName", {}).get(layer.name, {})
        wanted = int(section.get("ReuseFactor", ctx.reuse_factor))
        valid = backend.get_valid_reuse_factors(*layer.mult_shape)
        if wanted in valid:
            continue
        chosen = backend.get_closest_reuse_factor(valid, wanted)
        _layer_cfg(config, layer.name)["ReuseFactor"] = chosen
        n_in, n_out = layer.mult_shape
        shown = ", ".join(map(str, valid[:12])) + (", …" if len(valid) > 12 else "")
        notes.append(
            f"reuse factor of '{layer.name}' ({n_in}×{n_out}): {wanted} is not valid, using {chosen} (valid: {shown})"
        )
    return notes


def fix_pointwise_parallel(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    """Per-constituent Dense layers process every constituent in parallel (``ParallelizationFactor`` = N).

    ``n_partitions = out_width / ParallelizationFactor`` (hls4ml ``init_conv1d``); with one partition
    the Latency strategy uses ``BatchedDenseForConv1D`` (all positions in one pipeline, II = RF) and
    distributed arithmetic one DA kernel per position (II = 1). A factor the user set is kept.
    """
    notes = []
    for layer in graph.values():
        if not layer.class_name.startswith(("Conv1D", "PointwiseConv1D")) or layer.mult_shape is None:
            continue
        if len(layer.input_shape) != 2 or layer.mult_shape[0] != layer.input_shape[-1]:
            continue  # not a per-position (kernel width 1) layer
        section = _layer_cfg(config, layer.name)
        if "ParallelizationFactor" in section:
            continue
        width = layer.input_shape[0]
        section["ParallelizationFactor"] = width
        notes.append(f"'{layer.name}': ParallelizationFactor {width} (all {width} positions in parallel)")
    return notes


FIXES = (
    fix_reuse_factor,
    fix_pointwise_parallel,
    fix_input_type,
    fix_garnet_count_input,
    fix_garnet_internal_types,
    fix_pooling_accumulator,
    fix_logits_type,
    fix_linear_passthrough,
    fix_softmax_tables,
)


def apply_fixes(config: dict[str, Any], graph: dict[str, LayerTypes], ctx: FixContext) -> list[str]:
    """Apply every fix in order; return their notes."""
    notes: list[str] = []
    for fix in FIXES:
        notes.extend(fix(config, graph, ctx))
    return notes
