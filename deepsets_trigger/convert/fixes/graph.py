"""What a first (uncompiled) hls4ml conversion says about each layer, and how fixes edit the config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deepsets_trigger.precision import FixedType, from_hls4ml


@dataclass(frozen=True)
class LayerTypes:
    """One layer of a phase-1 conversion: its class, producers, types and shapes."""

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


def read_graph(hls_model: Any) -> dict[str, LayerTypes]:
    """Per-layer types of a converted (not necessarily compiled) hls4ml model."""
    producers = {out: layer.name for layer in hls_model.get_layers() for out in layer.outputs}
    graph: dict[str, LayerTypes] = {}
    for layer in hls_model.get_layers():
        accum = layer.get_attr("accum_t")
        inp = layer.get_input_variable() if layer.inputs else None
        graph[layer.name] = LayerTypes(
            name=layer.name,
            class_name=layer.class_name,
            inputs=[producers.get(i, i) for i in layer.inputs],
            input_type=from_hls4ml(inp.type.precision) if inp is not None else None,
            result=from_hls4ml(layer.get_output_variable().type.precision),
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


def layer_cfg(config: dict[str, Any], name: str) -> dict[str, Any]:
    """``config['LayerName'][name]``, created if missing, with ``Precision`` as a mapping."""
    layer = config.setdefault("LayerName", {}).setdefault(name, {})
    precision = layer.get("Precision")
    if not isinstance(precision, dict):
        layer["Precision"] = {} if precision is None else {"default": precision}
    return layer


def set_type(config: dict[str, Any], name: str, kind: str, t: FixedType) -> None:
    """Set ``Precision[kind]`` of layer ``name`` to ``t``."""
    layer_cfg(config, name)["Precision"][kind] = t.hls()


def softmax_inputs(graph: dict[str, LayerTypes]) -> list[tuple[str, str]]:
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
