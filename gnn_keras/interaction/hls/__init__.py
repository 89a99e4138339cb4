"""The interaction network's hls4ml extension: layers, parsers, templates, C++ header, one registration.

:func:`register_extension` is what a model family (or a user) calls before converting a model
with gather/aggregate layers; it is idempotent. :func:`register_layer_extension` is the same
recipe for any custom Keras layer — a user's own projection layer, say — in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

BACKENDS = ("Vivado", "Vitis")
HEADER_PATH = Path(__file__).with_name("nnet_interaction.h")

_registered: set[str] = set()
_sources: set[tuple[str, str]] = set()


def register_layer_extension(
    keras_class: str,
    parser: Callable[..., tuple[dict[str, Any], list[Any]]],
    hls_class: type,
    templates: Iterable[type],
    header: str | Path,
    passes: Iterable[tuple[str, type, str]] = (),
    backends: Iterable[str] = BACKENDS,
) -> None:
    """Register one custom layer with hls4ml's Extension API (once per process; later calls do nothing).

    Args:
        keras_class: the Keras layer's class name (what the model config stores).
        parser: ``(keras_layer, input_names, input_shapes, data_reader) -> (attributes, output_shape)``;
            ``attributes["class_name"]`` names the hls4ml layer class.
        hls_class: the hls4ml ``Layer`` subclass.
        templates: its config and function-call template classes.
        header: absolute path of the C++ header the function template includes (as ``nnet_utils/<name>``).
        passes: ``(name, OptimizerPass class, flow)``, e.g. ``("my_pass", MyPass, "vivado:optimize")``
            (the Vitis flow includes Vivado's ``optimize``); registered with the flow's backend.
        backends: hls4ml backends to register the templates, passes and header with.
    """
    import hls4ml

    if keras_class in _registered:
        return
    hls4ml.converters.register_keras_v2_layer_handler(keras_class, parser)
    hls4ml.model.layers.register_layer(hls_class.__name__, hls_class)
    for backend_name in backends:
        backend = hls4ml.backends.get_backend(backend_name)
        for template in templates:
            backend.register_template(template)
        source = (backend_name, str(Path(header).resolve()))
        if source not in _sources:
            backend.register_source(Path(header).resolve())
            _sources.add(source)
    for name, pass_class, flow in passes:
        hls4ml.backends.get_backend(flow.split(":")[0]).register_pass(name, pass_class, flow=flow)
    _registered.add(keras_class)


def register_extension() -> None:
    """Register the ``EdgeGather`` / ``EdgeAggregate`` layers with hls4ml (Vivado, Vitis) and the twin; idempotent."""
    from gnn_keras.interaction.hls.layers import (
        EdgeAggregate,
        EdgeGather,
        ResolveAggregateTypes,
        parse_edge_aggregate,
        parse_edge_gather,
    )
    from gnn_keras.interaction.hls.templates import (
        EdgeAggregateConfigTemplate,
        EdgeAggregateFunctionTemplate,
        EdgeGatherConfigTemplate,
        EdgeGatherFunctionTemplate,
    )

    register_layer_extension(
        "EdgeGather", parse_edge_gather, EdgeGather, (EdgeGatherConfigTemplate, EdgeGatherFunctionTemplate), HEADER_PATH
    )
    register_layer_extension(
        "EdgeAggregate",
        parse_edge_aggregate,
        EdgeAggregate,
        (EdgeAggregateConfigTemplate, EdgeAggregateFunctionTemplate),
        HEADER_PATH,
        passes=(("resolve_aggregate_types", ResolveAggregateTypes, "vivado:optimize"),),
    )
    from gnn_keras.interaction.twin import register_twin

    register_twin()
