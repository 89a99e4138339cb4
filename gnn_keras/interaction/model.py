"""The interaction network (IN) for edge classification, built from plain parameters.

Per message-passing step ``t`` (``iterations`` of them, each with its own weights):

    gather_t      [x_sender, x_receiver] per edge                       (E, 2F)
    rel_t_i       relational MLP → messages                              (E, D)
    aggregate_t   sum / mean of the real edges' messages at the receiver (N, D)
    concat_t      [x_node, aggregated]                                   (N, F + D)
    obj_t_i       object MLP → updated node features                     (N, H)

then ``gather_out`` → classifier MLP ``cls_i`` → ``edge_logit`` (one logit per edge, (E, 1)) →
``edge_score`` (sigmoid). Inputs: ``nodes`` (N, F) float, ``edge_index`` (E, 2) int32
(sender, receiver), ``edge_mask`` (E,) float (1 for a real edge). Padding edges only produce
scores that the metrics ignore; they never reach a node, because the aggregation is masked.

QAT (``widths`` given, QKeras): regions as in the DeepSets — ``I`` the first relational layer
(it reads the raw hits), ``H`` every other hidden layer, ``O`` the logit layer (``A_O``, when set,
quantizes the logit) — weights ``quantized_bits(B, integer_bits, alpha=1)``, activations
``quantized_relu(A, activation_integer_bits)``, the input ``input_quantizer(input_type)``, and
each aggregation ``quantized_bits(A_H, activation_integer_bits + 2)`` for a sum (room for four
full-scale messages before it saturates) or ``activation_integer_bits`` for a mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deepsets_trigger.quantize import QATWidths, input_quantizer, relu_quantizer, weight_quantizer
from gnn_keras.interaction.conversion import AGGREGATIONS

SUM_HEADROOM_BITS = 2  # integer bits a summed aggregate has beyond one message's


@dataclass(frozen=True)
class InteractionSpec:
    """Architecture of an interaction network (sizes are the padded graph's)."""

    n_nodes: int = 32
    n_edges: int = 64
    n_features: int = 3
    relational: tuple[int, ...] = (8, 8)
    object: tuple[int, ...] = (8, 8)
    classifier: tuple[int, ...] = (8,)
    iterations: int = 2
    aggregation: str = "sum"

    def validate(self) -> None:
        from deepsets_trigger.errors import ToolkitError

        for name in ("n_nodes", "n_edges", "n_features", "iterations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ToolkitError(f"interaction network: {name} must be a positive integer, got {value!r}.")
        for name in ("relational", "object"):
            widths = getattr(self, name)
            if not widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
                raise ToolkitError(
                    f"model.{name} must be a non-empty list of positive layer widths, got {list(widths)!r}."
                )
        if any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in self.classifier):
            raise ToolkitError(
                f"model.classifier must be a list of positive layer widths, got {list(self.classifier)!r}."
            )
        if self.aggregation not in AGGREGATIONS:
            raise ToolkitError(f"model.aggregation must be one of {', '.join(AGGREGATIONS)}, got {self.aggregation!r}.")


def _dense(widths: QATWidths | None, units: int, name: str, region: str) -> Any:
    """A Dense layer, or a QDense with the region's weight bits (``B_I``, ``B_H``, ``B_O``)."""
    from tensorflow import keras

    if widths is None:
        return keras.layers.Dense(units, name=name)
    from qkeras import QDense

    bits = getattr(widths, f"B_{region}")
    q = weight_quantizer(bits, widths.integer_bits)
    return QDense(units, kernel_quantizer=q, bias_quantizer=weight_quantizer(bits, widths.integer_bits), name=name)


def _mlp(widths: QATWidths | None, h: Any, sizes: tuple[int, ...], prefix: str, first_region: str = "H") -> Any:
    """Dense + ReLU per width (QAT: ``quantized_relu`` with the region's activation bits)."""
    from tensorflow import keras

    for i, units in enumerate(sizes):
        region = first_region if i == 0 else "H"
        h = _dense(widths, units, f"{prefix}_{i}", region)(h)
        if widths is None:
            h = keras.layers.Activation("relu", name=f"{prefix}_{i}_relu")(h)
        else:
            from qkeras import QActivation

            quantizer = relu_quantizer(getattr(widths, f"A_{region}"), widths.activation_integer_bits)
            h = QActivation(quantizer, name=f"{prefix}_{i}_relu")(h)
    return h


def build_interaction_network(spec: InteractionSpec, widths: QATWidths | None = None) -> Any:
    """The Keras (``widths`` None) or QKeras (QAT) interaction network of ``spec``.

    Args:
        spec: sizes and widths.
        widths: QAT bit widths per region (:func:`deepsets_trigger.quantize.qat_widths`); None: float.

    Returns:
        A ``keras.Model([nodes, edge_index, edge_mask], edge_score)`` with scores of shape (E, 1).

    Raises:
        ToolkitError: a bad size or width.
    """
    from tensorflow import keras

    from gnn_keras.interaction.layers import EdgeAggregate, EdgeGather

    spec.validate()
    nodes = keras.Input((spec.n_nodes, spec.n_features), name="nodes")
    index = keras.Input((spec.n_edges, 2), name="edge_index", dtype="int32")
    mask = keras.Input((spec.n_edges,), name="edge_mask")
    h = nodes
    aggregate_bits: dict[str, Any] = {}
    if widths is not None:
        from qkeras import QActivation, quantized_bits

        h = QActivation(input_quantizer(widths.input_type), name="input_quant")(h)
        extra = SUM_HEADROOM_BITS if spec.aggregation == "sum" else 0
        aggregate_bits = {"bits": widths.A_H, "integer": widths.activation_integer_bits + extra}
    for t in range(spec.iterations):
        edges = EdgeGather(name=f"gather_{t}")([h, index])
        messages = _mlp(widths, edges, spec.relational, f"rel_{t}", first_region="I" if t == 0 else "H")
        received = EdgeAggregate(spec.n_nodes, spec.aggregation, name=f"aggregate_{t}", **aggregate_bits)(
            [messages, index, mask]
        )
        h = keras.layers.Concatenate(name=f"concat_{t}")([h, received])
        h = _mlp(widths, h, spec.object, f"obj_{t}")
    e = _mlp(widths, EdgeGather(name="gather_out")([h, index]), spec.classifier, "cls")
    logit = _dense(widths, 1, "edge_logit", "O")(e)
    if widths is not None and widths.A_O is not None:
        quantizer = quantized_bits(widths.A_O, widths.activation_integer_bits + 2, alpha=1)
        logit = QActivation(quantizer, name="logit_quant")(logit)
    score = keras.layers.Activation("sigmoid", name="edge_score")(logit)
    return keras.Model([nodes, index, mask], score, name="interaction_network")
