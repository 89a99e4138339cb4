"""Config and function-call templates of the gather / aggregate layers (Vivado and Vitis, io_parallel)."""

from __future__ import annotations

from typing import Any

from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate

from gnn_keras.interaction.hls.layers import EdgeAggregate, EdgeGather

HEADER = "nnet_interaction.h"

_GATHER_CONFIG = """struct config{index} : nnet::edge_gather_config {{
    static const unsigned n_nodes = {n_nodes};
    static const unsigned n_edges = {n_edges};
    static const unsigned n_features = {n_features};
}};\n"""

_AGGREGATE_CONFIG = """struct config{index} : nnet::edge_aggregate_config {{
    static const unsigned n_nodes = {n_nodes};
    static const unsigned n_edges = {n_edges};
    static const unsigned n_features = {n_features};
    static const bool mean = {mean};
    typedef {accum_t} accum_t;
    typedef {inv_t} inv_t;
    typedef {count_t} count_t;
}};\n"""

_GATHER_CALL = "nnet::edge_gather<{nodes_t}, {index_t}, {output_t}, {config}>({nodes}, {index}, {output});"
_AGGREGATE_CALL = (
    "nnet::edge_aggregate<{messages_t}, {index_t}, {mask_t}, {output_t}, {config}>"
    "({messages}, {index}, {mask}, {output});"
)


def _inputs(node: Any, roles: tuple[str, ...]) -> dict[str, str]:
    params = {}
    for role, name in zip(roles, node.inputs, strict=True):
        var = node.get_input_variable(name)
        params[role] = var.name
        params[f"{role}_t"] = var.type.name
    return params


class EdgeGatherConfigTemplate(LayerConfigTemplate):
    def __init__(self) -> None:
        super().__init__(EdgeGather)
        self.template = _GATHER_CONFIG

    def format(self, node: Any) -> str:
        return self.template.format(**self._default_config_params(node))


class EdgeAggregateConfigTemplate(LayerConfigTemplate):
    def __init__(self) -> None:
        super().__init__(EdgeAggregate)
        self.template = _AGGREGATE_CONFIG

    def format(self, node: Any) -> str:
        params = self._default_config_params(node)
        params["mean"] = "true" if node.get_attr("aggregation") == "mean" else "false"
        for name in ("accum_t", "inv_t", "count_t"):
            params[name] = node.get_attr(name).name
        return self.template.format(**params)


class EdgeGatherFunctionTemplate(FunctionCallTemplate):
    def __init__(self) -> None:
        super().__init__(EdgeGather, include_header=[f"nnet_utils/{HEADER}"])
        self.template = _GATHER_CALL

    def format(self, node: Any) -> str:
        params = self._default_function_params(node)
        params.update(_inputs(node, ("nodes", "index")))
        return self.template.format(**params)


class EdgeAggregateFunctionTemplate(FunctionCallTemplate):
    def __init__(self) -> None:
        super().__init__(EdgeAggregate, include_header=[f"nnet_utils/{HEADER}"])
        self.template = _AGGREGATE_CALL

    def format(self, node: Any) -> str:
        params = self._default_function_params(node)
        params.update(_inputs(node, ("messages", "index", "mask")))
        return self.template.format(**params)


TEMPLATES = (
    EdgeGatherConfigTemplate,
    EdgeGatherFunctionTemplate,
    EdgeAggregateConfigTemplate,
    EdgeAggregateFunctionTemplate,
)
