"""``model.kind: interaction_network`` as the core sees it: a :class:`ModelFamily` and its ``model`` keys.

Data come from ``data.source: tracks | graph_h5`` (:mod:`gnn_keras.tracking.sources`) as the
core's :class:`~deepsets_trigger.data.Dataset` (:mod:`gnn_keras.interaction.data`); the layers
reach hls4ml through its Extension API (:func:`gnn_keras.interaction.hls.register_extension`, the
family's ``hls4ml_extension``); the comparison is edge-level (:mod:`gnn_keras.interaction.metrics`);
the gather / aggregate layers are priced by :func:`gnn_keras.interaction.resources.layer_cost`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from deepsets_trigger.config import Config, ModelConfig
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.registry import ModelFamily
from gnn_keras.interaction.conversion import LOGIT_LAYERS, check_interaction
from gnn_keras.tracking.sources import GRAPH_SOURCES

KIND = "interaction_network"


@dataclass(frozen=True)
class InteractionConfig(ModelConfig):
    """The ``model`` section of an interaction network (widths are per-layer lists)."""

    kind: str = KIND
    relational: list[int] = field(default_factory=lambda: [8, 8])
    object: list[int] = field(default_factory=lambda: [8, 8])
    classifier: list[int] = field(default_factory=lambda: [8])
    iterations: int = 2
    aggregation: Literal["sum", "mean"] = "sum"
    width: int | None = None  # sets every relational / object / classifier layer's width (a grid axis)
    edge_threshold: float = 0.5  # the working point on the edge score (efficiency, purity, agreement)

    def validated(self, cfg: Config) -> InteractionConfig:
        if self.head != "classification":
            raise ToolkitError(f"model.kind {KIND} classifies graph edges: model.head must be classification.")
        m = self
        if self.width is not None:
            if self.width < 1:
                raise ToolkitError(f"model.width must be a positive layer width, got {self.width}.")
            m = dataclasses.replace(
                self,
                relational=[self.width] * len(self.relational),
                object=[self.width] * len(self.object),
                classifier=[self.width] * len(self.classifier),
            )
        _spec(m).validate()
        if not 0 < m.edge_threshold < 1:
            raise ToolkitError(f"model.edge_threshold must be in (0, 1), got {m.edge_threshold}.")
        if cfg.data.source not in GRAPH_SOURCES:
            raise ToolkitError(f"model.kind {KIND} classifies graph edges: set data.source: tracks or graph_h5.")
        if cfg.hls.strategy == "distributed_arithmetic":
            raise ToolkitError(
                f"hls.strategy distributed_arithmetic is not verified for model.kind {KIND} (its gather/aggregate "
                "layers have no da4ml form); use strategy Latency or Resource."
            )
        return m


def _spec(m: InteractionConfig, input_shapes: list[tuple[int, ...]] | None = None) -> Any:
    """The :class:`InteractionSpec` of a ``model`` section (sizes from the inputs' shapes when given)."""
    from gnn_keras.interaction.model import InteractionSpec

    sizes = {}
    if input_shapes is not None:
        nodes, index = input_shapes[0], input_shapes[1]
        sizes = {"n_nodes": int(nodes[0]), "n_features": int(nodes[1]), "n_edges": int(index[0])}
    return InteractionSpec(
        relational=tuple(m.relational),
        object=tuple(m.object),
        classifier=tuple(m.classifier),
        iterations=m.iterations,
        aggregation=m.aggregation,
        **sizes,
    )


def build(cfg: Config, input_shapes: list[tuple[int, ...]], n_outputs: int) -> Any:
    """The float or QAT (``quantization.mode: qat``, per-region widths) network of ``[nodes, index, mask]``."""
    from deepsets_trigger.quantize import qat_widths
    from gnn_keras.interaction.model import build_interaction_network

    widths = qat_widths(cfg.quantization) if cfg.quantization.mode == "qat" else None
    return build_interaction_network(_spec(cfg.model, input_shapes), widths)


def load_data(cfg: Config) -> Any:
    """The graphs of ``data.source: tracks | graph_h5`` as a :class:`Dataset` (:func:`edge_dataset`)."""
    from gnn_keras.interaction.data import edge_dataset
    from gnn_keras.tracking.sources import track_graphs

    graphs, n_max, e_max = track_graphs(cfg.data)
    return edge_dataset(graphs, cfg.model.edge_threshold, n_max, e_max)


def check(model: Any, hls: Any, hls_config: dict[str, Any] | None = None) -> None:
    """The conversion rules of the gather / aggregate layers (:func:`check_interaction`)."""
    check_interaction(model, hls)


def compare(dataset: Any, output_names: list[str], keras_out: list[np.ndarray], firmware_out: list[np.ndarray]) -> dict:
    """Edge-level Keras vs firmware on the test graphs (:func:`gnn_keras.interaction.metrics.edge_metrics`).

    Decisions and ``max_abs_logit_diff`` use the logit output when it is exposed (else the score);
    ``max_abs_score_diff`` compares the sigmoid's scores on the real edges.
    """
    from gnn_keras.interaction.metrics import edge_metrics

    extras = dataset.extras
    mask = extras["mask_test"]
    logit = next((i for i, name in enumerate(output_names) if name in LOGIT_LAYERS), None)
    used = len(output_names) - 1 if logit is None else logit
    out = edge_metrics(
        dataset.y_test,
        mask,
        keras_out[used],
        firmware_out[used],
        float(extras["edge_threshold"]),
        extras["n_true_test"][:, 0],
        logits=logit is not None,
    )
    score = len(output_names) - 1
    k = np.asarray(keras_out[score]).reshape(mask.shape)[mask]
    f = np.asarray(firmware_out[score]).reshape(mask.shape)[mask]
    out["max_abs_score_diff"] = float(np.max(np.abs(k - f))) if len(k) else None
    return out


def describe(cfg: Config) -> dict[str, Any]:
    """Architecture fields of ``result.json``."""
    m = cfg.model
    return {
        "relational_widths": list(m.relational),
        "object_widths": list(m.object),
        "classifier_widths": list(m.classifier),
        "iterations": int(m.iterations),
        "aggregation": m.aggregation,
        "width": m.relational[0],
        "edge_threshold": float(m.edge_threshold),
    }


def custom_objects() -> dict[str, Any]:
    from gnn_keras.interaction.layers import custom_objects as layer_objects

    return layer_objects()


def hls4ml_extension() -> None:
    from gnn_keras.interaction.hls import register_extension

    register_extension()


def layer_cost(layer: Any, ctx: dict[str, Any]) -> dict[str, Any] | None:
    from gnn_keras.interaction.resources import layer_cost as cost

    return cost(layer, ctx)


FAMILY = ModelFamily(
    KIND,
    InteractionConfig,
    build,
    load_data=load_data,
    check=check,
    compare=compare,
    describe=describe,
    custom_objects=custom_objects,
    hls4ml_extension=hls4ml_extension,
    layer_cost=layer_cost,
)
