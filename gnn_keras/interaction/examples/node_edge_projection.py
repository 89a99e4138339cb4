"""A user's own custom layer through hls4ml's Extension API: the node → edge projection of a jet IN.

Interaction networks for jet tagging run on fully connected graphs of N constituents: every ordered
pair (s, r), s ≠ r, is an edge, so the index matrices are fixed and a custom Keras layer projects
node features onto the N(N−1) edges. This module is what a user passes to
``deepsets-trigger run --model IN.h5 --trust-custom-layers gnn_keras.interaction.examples.node_edge_projection``:
the Keras class (accepted by the model-file check), and ``register_hls4ml()`` — the hls4ml layer,
its parser, its two templates and its C++ header (``nnet_node_edge_projection.h`` beside this
file) — registered in one call of :func:`gnn_keras.interaction.hls.register_layer_extension`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow import keras


def edge_pairs(n_nodes: int) -> np.ndarray:
    """(N(N−1), 2) ordered (sender, receiver) pairs, sender-major: the firmware's edge order."""
    s, r = np.nonzero(~np.eye(n_nodes, dtype=bool))
    return np.stack([s, r], axis=1)


class NodeEdgeProjection(keras.layers.Layer):
    """(N, F) node features → (N(N−1), F): each edge's receiver (``receiving=True``) or sender features."""

    def __init__(self, receiving: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.receiving = bool(receiving)

    def call(self, nodes: tf.Tensor) -> tf.Tensor:
        pairs = edge_pairs(int(nodes.shape[1]))[:, 1 if self.receiving else 0]
        return tf.gather(nodes, pairs, axis=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "receiving": self.receiving}


def register_hls4ml() -> None:
    """Register the layer with hls4ml (Vivado and Vitis); called by the toolkit for a trusted module."""
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
    from hls4ml.model.attributes import Attribute
    from hls4ml.model.layers import Layer

    from gnn_keras.interaction.hls import register_layer_extension

    class HNodeEdgeProjection(Layer):
        _expected_attributes = [Attribute("n_nodes"), Attribute("n_features"), Attribute("receiving", value_type=bool)]

        def initialize(self) -> None:
            n = self.attributes["n_nodes"]
            precision = self.get_input_variable().type.precision  # a projection copies values
            self.add_output_variable([n * (n - 1), self.attributes["n_features"]], precision=precision)

    class Config(LayerConfigTemplate):
        def __init__(self) -> None:
            super().__init__(HNodeEdgeProjection)

        def format(self, node: Any) -> str:
            p = self._default_config_params(node)
            return (
                f"struct config{p['index']} : nnet::node_edge_projection_config {{\n"
                f"    static const unsigned n_nodes = {p['n_nodes']};\n"
                f"    static const unsigned n_features = {p['n_features']};\n"
                f"    static const bool receiving = {p['receiving']};\n}};\n"
            )

    class Call(FunctionCallTemplate):
        def __init__(self) -> None:
            super().__init__(HNodeEdgeProjection, include_header=["nnet_utils/nnet_node_edge_projection.h"])

        def format(self, node: Any) -> str:
            p = self._default_function_params(node)
            call = "nnet::node_edge_projection<{input_t}, {output_t}, {config}>({input}, {output});"
            return call.format(**p)

    def parse(keras_layer: dict, input_names: list, input_shapes: list, reader: Any) -> tuple[dict, list]:
        _, n, f = input_shapes[0]
        layer = {"class_name": "HNodeEdgeProjection", "name": keras_layer["config"]["name"], "inputs": input_names}
        layer.update(n_nodes=n, n_features=f, receiving=bool(keras_layer["config"]["receiving"]))
        return layer, [None, n * (n - 1), f]

    header = Path(__file__).with_name("nnet_node_edge_projection.h")
    register_layer_extension("NodeEdgeProjection", parse, HNodeEdgeProjection, (Config, Call), header)
