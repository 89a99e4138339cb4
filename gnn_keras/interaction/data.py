"""Tracking sector graphs (:class:`~gnn_keras.tracking.datasets.TrackGraphData`) as the core's :class:`Dataset`.

The model reads ``x = [nodes (N, F), edge_index (E, 2) int32, edge_mask (E,)]`` and predicts one
score per edge slot, shape (E, 1). Labels ``y`` are (E, 1) with −1 on padding slots, which
:func:`masked_binary_crossentropy` (the dataset's loss) leaves out (so padding is neither signal
nor background). ``extras`` hold what the edge-level comparison needs: ``mask_test`` (real test
edges), ``n_true_test`` / ``edge_pt_test`` / ``event_test`` from the graph file, ``pt_thresholds``
and ``edge_threshold`` (the working point, ``model.edge_threshold``). Graph sizes must fit the
model: a graph with more real nodes or edges than N_max / E_max, or an edge whose index points
outside its graph, is refused with one error before anything runs (the firmware would read another
node or drop the edge without a sign).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepsets_trigger.data import Dataset
from deepsets_trigger.errors import ToolkitError

PADDING_LABEL = -1.0
TASK = "edge_classification"


def masked_binary_crossentropy(y_true: Any, y_pred: Any) -> Any:
    """Binary cross-entropy per graph over its real edges (labels ≥ 0); padding (−1) does not count."""
    import tensorflow as tf

    y_true = tf.cast(y_true, y_pred.dtype)
    weight = tf.cast(y_true >= 0, y_pred.dtype)
    eps = tf.keras.backend.epsilon()
    p = tf.clip_by_value(y_pred, eps, 1 - eps)
    loss = -(tf.maximum(y_true, 0) * tf.math.log(p) + (1 - tf.maximum(y_true, 0)) * tf.math.log(1 - p))
    axes = list(range(1, len(y_pred.shape)))
    return tf.reduce_sum(loss * weight, axis=axes) / tf.maximum(tf.reduce_sum(weight, axis=axes), 1.0)


def edge_inputs(x: list[np.ndarray], n_nodes: int | None = None, n_edges: int | None = None) -> list[np.ndarray]:
    """``[nodes, edge_index, node_mask, edge_mask]`` → the model's ``[nodes, edge_index, edge_mask]``, checked.

    Args:
        x: a :class:`TrackGraphData` input list.
        n_nodes, n_edges: the model's N_max / E_max (default: the data's padding). Padding beyond
            them is cut off; real nodes or edges beyond them are an error.

    Returns:
        float32 nodes (G, N, F), int32 edge index (G, E, 2), float32 edge mask (G, E).

    Raises:
        ToolkitError: a graph larger than N_max or E_max, or an edge index outside its graph.
    """
    if len(x) != 4:
        raise ToolkitError(f"expected [nodes, edge_index, node_mask, edge_mask] graph arrays, got {len(x)} arrays.")
    nodes, index, node_mask, edge_mask = (np.asarray(a) for a in x)
    n_nodes = nodes.shape[1] if n_nodes is None else n_nodes
    n_edges = index.shape[1] if n_edges is None else n_edges
    real_nodes = node_mask.astype(bool)
    real_edges = edge_mask.astype(bool)
    sizes = real_nodes.sum(1), real_edges.sum(1)
    for what, count, limit, key in (("nodes", sizes[0], n_nodes, "n_max"), ("edges", sizes[1], n_edges, "e_max")):
        big = np.flatnonzero(count > limit)
        if len(big):
            raise ToolkitError(
                f"graph {big[0]} has {count[big[0]]} {what}, more than the model's {key} = {limit} "
                f"({len(big)} graph(s) too large); raise {key} (data and model), or build the graphs with "
                "overflow: drop."
            )
    if real_nodes[:, n_nodes:].any() or real_edges[:, n_edges:].any():
        raise ToolkitError(
            "real nodes or edges sit in padding slots beyond the model's n_max / e_max; pad graphs from slot 0."
        )
    index = index[:, :n_edges]
    real_edges = real_edges[:, :n_edges]
    if index.dtype.kind not in "iu" and not np.array_equal(index, np.round(index)):
        raise ToolkitError("edge indices must be whole numbers (node slots); got fractional values.")
    index = index.astype(np.int64)
    outside = real_edges[..., None] & ((index < 0) | (index >= sizes[0][:, None, None]))
    if outside.any():
        g, e, side = (int(v[0]) for v in np.nonzero(outside))
        raise ToolkitError(
            f"graph {g}, edge {e}: {('sender', 'receiver')[side]} index {index[g, e, side]} is outside the graph's "
            f"{sizes[0][g]} nodes ({int(outside.any(axis=2).sum())} such edge(s)); rebuild the graphs."
        )
    index = np.where(real_edges[..., None], index, 0)  # padding edges point at slot 0 (masked out)
    return [
        nodes[:, :n_nodes].astype(np.float32),
        index.astype(np.int32),
        real_edges.astype(np.float32),
    ]


def edge_labels(y: np.ndarray, edge_mask: np.ndarray) -> np.ndarray:
    """(G, E) labels → (G, E, 1) with :data:`PADDING_LABEL` on padding slots."""
    return np.where(edge_mask > 0, y[:, : edge_mask.shape[1]], PADDING_LABEL).astype(np.float32)[..., None]


def edge_dataset(data: Any, threshold: float = 0.5, n_nodes: int | None = None, n_edges: int | None = None) -> Dataset:
    """A :class:`TrackGraphData` as the :class:`Dataset` of a model of N_max ``n_nodes`` and E_max ``n_edges``.

    Args:
        data: the graphs, split by event.
        threshold: the working point on the edge score (``extras['edge_threshold']``).
        n_nodes, n_edges: the model's sizes (default: the data's padding).

    Raises:
        ToolkitError: as :func:`edge_inputs`.
    """
    splits = []
    for split in ("train", "val", "test"):
        x = edge_inputs(getattr(data, f"x_{split}"), n_nodes, n_edges)
        splits += [x, edge_labels(getattr(data, f"y_{split}"), x[2])]
    x_test = splits[4]
    extras = {
        "mask_test": x_test[2] > 0,
        "edge_pt_test": np.asarray(data.edge_pt_test)[:, : x_test[2].shape[1]],
        "n_true_test": np.asarray(data.n_true_test),
        "event_test": np.asarray(data.event_test),
        "pt_thresholds": np.asarray(data.pt_thresholds, np.float64),
        "edge_threshold": np.asarray(threshold, np.float64),
    }
    return Dataset(
        *splits,
        task=TASK,
        class_names=("fake", "true"),
        losses=(masked_binary_crossentropy,),
        extras=extras,
    )
