"""hls4ml IR layers of the interaction network and their Keras parsers (hls4ml 1.3.0 Extension API).

- ``EdgeGather``: its output has its node input's type (a gather copies values), unless the config
  sets a result type for the layer.
- ``EdgeAggregate``: the accumulator is :func:`gnn_keras.interaction.conversion.accumulator_type`
  of the message type and E_max unless the config sets ``accum`` for the layer (by name or type);
  the result type is the Keras layer's quantizer (``ap_fixed<bits, integer + 1, AP_RND_CONV,
  AP_SAT>``) unless the config sets it; without either, a sum returns the accumulator type and a
  mean the message range with more fractional bits. The reciprocal table type is
  ``ap_ufixed<reciprocal_bits, 1, AP_RND_CONV, AP_SAT>``, the in-degree ``ap_uint``.

When the message type is still 'auto' at construction (hls4ml infers it later), the accumulator is
set by :class:`ResolveAggregateTypes`, an optimizer pass that runs after type inference.
"""

from __future__ import annotations

from typing import Any

from hls4ml.model.attributes import Attribute, ChoiceAttribute, TypeAttribute
from hls4ml.model.layers import Layer
from hls4ml.model.optimizer import OptimizerPass
from hls4ml.model.types import (
    FixedPrecisionType,
    IntegerPrecisionType,
    NamedType,
    RoundingMode,
    SaturationMode,
    UnspecifiedPrecisionType,
)

from deepsets_trigger.precision import FixedType, from_hls4ml
from gnn_keras.interaction.conversion import accumulator_type, degree_bits, mean_result_type


def _hls(t: FixedType) -> FixedPrecisionType:
    return FixedPrecisionType(
        t.width, t.integer, t.signed, RoundingMode.from_string(t.rounding), SaturationMode.from_string(t.saturation)
    )


def _explicit(layer: Layer, var: str) -> bool:
    """Whether the config sets ``var`` for this layer by name or by type (not 'auto')."""
    config = layer.model.config
    for table, key in (
        (config.layer_name_precision, f"{layer.name.lower()}_{var}"),
        (config.layer_type_precision, f"{layer.class_name.lower()}_{var}"),
    ):
        value = table.get(key)
        if value is not None and str(value).lower() != "auto":
            return True
    return False


class EdgeGather(Layer):
    """``[nodes (N, F), edge_index (E, 2)] → (E, 2F)``."""

    _expected_attributes = [Attribute("n_nodes"), Attribute("n_edges"), Attribute("n_features")]

    def initialize(self) -> None:
        shape = [self.attributes["n_edges"], 2 * self.attributes["n_features"]]
        self.add_output_variable(shape)
        if not _explicit(self, "result"):
            nodes = self.get_input_variable(self.inputs[0]).type
            self.get_output_variable().type = nodes  # the same NamedType: follows the input's inference
            self.attributes["result_t"] = nodes


class EdgeAggregate(Layer):
    """``[messages (E, D), edge_index (E, 2), edge_mask (E,)] → (N, D)``."""

    _expected_attributes = [
        Attribute("n_nodes"),
        Attribute("n_edges"),
        Attribute("n_features"),
        ChoiceAttribute("aggregation", ["sum", "mean"], configurable=False),
        Attribute("reciprocal_bits"),
        TypeAttribute("accum"),
    ]

    def initialize(self) -> None:
        self.add_output_variable([self.attributes["n_nodes"], self.attributes["n_features"]])
        n_edges = self.attributes["n_edges"]
        self.set_attr("count_t", NamedType(f"{self.name}_count_t", IntegerPrecisionType(degree_bits(n_edges), False)))
        inv = FixedType(int(self.attributes["reciprocal_bits"]), 1, False, "RND_CONV", "SAT")
        self.set_attr("inv_t", NamedType(f"{self.name}_inv_t", _hls(inv)))
        self.set_attr("accum_auto", not _explicit(self, "accum"))
        self.set_attr("result_auto", not _explicit(self, "result") and self.get_attr("bits") is None)
        if not _explicit(self, "result") and self.get_attr("bits") is not None:
            quantizer = FixedType(
                int(self.get_attr("bits")), int(self.get_attr("integer")) + 1, True, "RND_CONV", "SAT"
            )
            self.get_output_variable().type.precision = _hls(quantizer)
        resolve_types(self)


def resolve_types(layer: EdgeAggregate) -> bool:
    """Set the derived accumulator (and default result) once the message type is known; True if it did."""
    message = from_hls4ml(layer.get_input_variable(layer.inputs[0]).type.precision)
    if message is None:
        if layer.get_attr("accum_auto"):  # placeholder until ResolveAggregateTypes runs; never 'auto'
            layer.get_attr("accum_t").precision = layer.model.config.backend.convert_precision_string(
                layer.model.config.model_precision["default"]
            )
        return False
    n_edges = int(layer.attributes["n_edges"])
    accum = accumulator_type(message, n_edges)
    if layer.get_attr("accum_auto"):
        layer.get_attr("accum_t").precision = _hls(accum)
        layer.set_attr("accum_auto", False)
    if layer.get_attr("result_auto"):
        result = accum if layer.get_attr("aggregation") == "sum" else mean_result_type(message, n_edges)
        layer.get_output_variable().type.precision = _hls(result)
        layer.set_attr("result_auto", False)
    return True


class ResolveAggregateTypes(OptimizerPass):
    """Derive the accumulator of an aggregate whose message type was 'auto' at construction."""

    def match(self, node: Any) -> bool:
        if not isinstance(node, EdgeAggregate) or not (node.get_attr("accum_auto") or node.get_attr("result_auto")):
            return False
        return not isinstance(node.get_input_variable(node.inputs[0]).type.precision, UnspecifiedPrecisionType)

    def transform(self, model: Any, node: Any) -> bool:
        resolve_types(node)
        return False


def parse_edge_gather(
    keras_layer: dict[str, Any], input_names: list[str], input_shapes: list[list[int]], data_reader: Any
) -> tuple[dict[str, Any], list[Any]]:
    """Keras ``EdgeGather`` config → hls4ml layer attributes and output shape."""
    nodes, index = input_shapes[0], input_shapes[1]
    layer = {
        "class_name": "EdgeGather",
        "name": keras_layer["config"]["name"],
        "inputs": input_names,
        "n_nodes": int(nodes[1]),
        "n_features": int(nodes[2]),
        "n_edges": int(index[1]),
    }
    return layer, [nodes[0], int(index[1]), 2 * int(nodes[2])]


def parse_edge_aggregate(
    keras_layer: dict[str, Any], input_names: list[str], input_shapes: list[list[int]], data_reader: Any
) -> tuple[dict[str, Any], list[Any]]:
    """Keras ``EdgeAggregate`` config → hls4ml layer attributes and output shape."""
    config = keras_layer["config"]
    messages = input_shapes[0]
    layer = {
        "class_name": "EdgeAggregate",
        "name": config["name"],
        "inputs": input_names,
        "n_nodes": int(config["n_nodes"]),
        "n_edges": int(messages[1]),
        "n_features": int(messages[2]),
        "aggregation": config["aggregation"],
        "reciprocal_bits": int(config.get("reciprocal_bits", 18)),
        "bits": config.get("bits"),
        "integer": config.get("integer"),
    }
    return layer, [messages[0], int(config["n_nodes"]), int(messages[2])]
