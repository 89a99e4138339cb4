"""Keras layers of the interaction network: node → edge gather and edge → node aggregation.

Both take the edge index as an input tensor (E, 2) of integers — (sender, receiver) node slots —
so one model serves every graph of up to N_max nodes and E_max edges, as the firmware does.

- :class:`EdgeGather`: ``[nodes (N, F), edge_index (E, 2)] → (E, 2F)``, the features of each
  edge's sender and receiver side by side (the input of the relational and classifier MLPs).
- :class:`EdgeAggregate`: ``[messages (E, D), edge_index (E, 2), edge_mask (E,)] → (N, D)``, the
  sum (or mean) of the messages of the real edges arriving at each node. With ``bits`` set, the
  result is quantized like ``quantized_bits(bits, integer, alpha=1)`` (round half to even,
  saturate), computed in float64 from the exact sum so that it equals the firmware bit for bit:
  the firmware sums in an accumulator that cannot overflow, multiplies a mean by the in-degree's
  reciprocal from a ``reciprocal_bits`` table, and casts to ``ap_fixed<bits, integer + 1,
  AP_RND_CONV, AP_SAT>`` (:mod:`gnn_keras.interaction.hls`).

Like GarNet's, the classes are not registered Keras serializables: a saved model names them by
their plain class names, and loading passes :func:`custom_objects` (the family declares them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow import keras

from gnn_keras.interaction.conversion import AGGREGATIONS

__all__ = ["AGGREGATIONS", "EdgeAggregate", "EdgeGather", "custom_objects", "reciprocal_table"]


def reciprocal_table(max_degree: int, bits: int) -> np.ndarray:
    """``1/k`` for k = 0…max_degree (0 for k = 0) on the grid of ``ap_ufixed<bits, 1>``, rounded half to even.

    The firmware builds the same table by casting ``1.0 / k`` to that type with ``AP_RND_CONV``.
    """
    k = np.arange(max_degree + 1, dtype=np.float64)
    scale = 2.0 ** (bits - 1)
    with np.errstate(divide="ignore"):
        table = np.where(k > 0, np.round(scale / np.maximum(k, 1)) / scale, 0.0)
    return table


def _quantize(x: tf.Tensor, bits: int, integer: int) -> tf.Tensor:
    """``quantized_bits(bits, integer, alpha=1)`` values of float64 ``x``: round half to even, saturate."""
    scale = 2.0 ** (bits - 1 - integer)
    low, high = -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    return tf.clip_by_value(tf.round(x * scale), low, high) / scale


class EdgeGather(keras.layers.Layer):
    """``[nodes (N, F), edge_index (E, 2) int] → (E, 2F)``: [x_sender, x_receiver] per edge."""

    def call(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        nodes, index = inputs
        index = tf.cast(index, tf.int32)
        sender = tf.gather(nodes, index[..., 0], batch_dims=1)
        receiver = tf.gather(nodes, index[..., 1], batch_dims=1)
        return tf.concat([sender, receiver], axis=-1)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        nodes, index = input_shape
        return (nodes[0], index[1], 2 * nodes[-1])


class EdgeAggregate(keras.layers.Layer):
    """``[messages (E, D), edge_index (E, 2) int, edge_mask (E,)] → (N, D)``: messages summed at their receivers.

    Args:
        n_nodes: N_max, the number of node slots.
        aggregation: ``sum`` or ``mean`` (a node without incoming edges gets 0).
        bits, integer: quantize the result like ``quantized_bits(bits, integer, alpha=1)`` (QAT);
            ``None``: float.
        reciprocal_bits: width of the firmware's ``ap_ufixed<reciprocal_bits, 1>`` table of 1/degree
            (``mean`` only); the quantized Keras layer uses the same table.
    """

    def __init__(
        self,
        n_nodes: int,
        aggregation: str = "sum",
        bits: int | None = None,
        integer: int | None = None,
        reciprocal_bits: int = 18,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
        if (bits is None) != (integer is None):
            raise ValueError("bits and integer are set together (quantized) or not at all (float)")
        self.n_nodes = int(n_nodes)
        self.aggregation = aggregation
        self.bits = None if bits is None else int(bits)
        self.integer = None if integer is None else int(integer)
        self.reciprocal_bits = int(reciprocal_bits)

    def call(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        messages, index, mask = inputs
        quantized = self.bits is not None
        dtype = tf.float64 if quantized else messages.dtype  # float64: the firmware's exact sums and products
        receiver = tf.cast(index, tf.int32)[..., 1]
        incidence = tf.one_hot(receiver, self.n_nodes, dtype=dtype) * tf.cast(mask, dtype)[..., None]  # (B, E, N)
        total = tf.einsum("ben,bed->bnd", incidence, tf.cast(messages, dtype))
        if self.aggregation == "mean":
            degree = tf.reduce_sum(incidence, axis=1)  # (B, N)
            if quantized:
                table = reciprocal_table(int(messages.shape[1]), self.reciprocal_bits)
                inverse = tf.gather(tf.constant(table, tf.float64), tf.cast(degree, tf.int32))
            else:
                inverse = tf.math.divide_no_nan(tf.ones_like(degree), degree)
            total = total * inverse[..., None]
        if not quantized:
            return total
        exact = tf.cast(total, messages.dtype)
        rounded = tf.cast(_quantize(total, self.bits, self.integer), messages.dtype)
        return exact + tf.stop_gradient(rounded - exact)  # straight-through estimator

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        messages = input_shape[0]
        return (messages[0], self.n_nodes, messages[-1])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "n_nodes": self.n_nodes,
            "aggregation": self.aggregation,
            "bits": self.bits,
            "integer": self.integer,
            "reciprocal_bits": self.reciprocal_bits,
        }


def custom_objects() -> dict[str, Any]:
    """The interaction network's Keras classes (what its saved models need to load)."""
    return {"EdgeGather": EdgeGather, "EdgeAggregate": EdgeAggregate}
