"""Events cut into fixed-size φ-sector graphs for edge-classifying GNNs.

The barrel is cut into ``n_sectors`` φ sectors. An edge belongs to the sector of its inner hit,
so no edge is lost at a boundary: a sector graph holds the hits of its sector plus the outer
hits of its edges that lie in the next sector ("ghost" nodes, flagged). Graphs are padded to
``n_max`` nodes and ``e_max`` edges; a sector that does not fit is an error, or with
``overflow: drop`` it is left out and counted (``dropped_graphs``). The arrays of one graph are
those of the HDF5 file (:mod:`gnn_keras.tracking.graph_file`), without its leading axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepsets_trigger.errors import ToolkitError
from gnn_keras.tracking.builders import BuilderSpec
from gnn_keras.tracking.event import Event, edge_keys

FEATURE_NAMES = ("r", "dphi", "z")
PT_THRESHOLDS = (0.0, 0.5, 1.0, 2.0)
OVERFLOW = ("error", "drop")


@dataclass(frozen=True)
class SectorGraphSpec:
    """How events become padded sector graphs."""

    builder: BuilderSpec
    n_max: int = 32
    e_max: int = 64
    n_sectors: int = 32
    overflow: str = "error"

    def validate(self) -> None:
        for name in ("n_max", "e_max", "n_sectors"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ToolkitError(f"{name} must be a positive integer, got {value!r}.")
        if self.overflow not in OVERFLOW:
            raise ToolkitError(f"overflow must be one of {', '.join(OVERFLOW)}, got {self.overflow!r}.")
        if self.builder.builder == "module_map" and self.builder["train"] is None:
            raise ToolkitError(
                "a module_map graph dataset needs {builder: module_map, train: DIR} (its training events)."
            )


def _sector(phi: np.ndarray, n_sectors: int) -> np.ndarray:
    return np.floor((phi + np.pi) * n_sectors / (2 * np.pi)).astype(np.int64) % n_sectors


def sector_graphs(
    event: Event, edges: np.ndarray, spec: SectorGraphSpec
) -> tuple[list[dict[str, np.ndarray]], list[tuple[int, int, int]]]:
    """The padded graphs of one event's sectors (see the module docstring).

    Args:
        event: the hits and their truth (for the edge labels).
        edges: (E, 2) built edges, inner hit first.
        spec: padding and sectors.

    Returns:
        (graphs that fit, [(sector, n_nodes, n_edges) of those that do not]).
    """
    n = len(event)
    sector = _sector(event.phi, spec.n_sectors)
    true = edge_keys(event.true_edges, n)
    keys = edges[:, 0].astype(np.int64) * n + edges[:, 1]
    is_true = np.isin(keys, true)
    true_edges = event.true_edges
    true_sector = sector[true_edges[:, 0]]
    true_pt = event.pt[true_edges[:, 0]]
    edge_sector = sector[edges[:, 0]]
    graphs, overflow = [], []
    for s in range(spec.n_sectors):  # a loop over sectors; everything inside is vectorised
        own_edges = np.flatnonzero(edge_sector == s)
        nodes = np.union1d(np.flatnonzero(sector == s), edges[own_edges, 1])
        if len(nodes) == 0:
            continue
        if len(nodes) > spec.n_max or len(own_edges) > spec.e_max:
            overflow.append((s, len(nodes), len(own_edges)))
            continue
        g = _padded_graph(event, edges[own_edges], is_true[own_edges], nodes, sector[nodes] != s, s, spec)
        mine = true_sector == s
        g["n_true"] = np.array([(mine & (true_pt >= t)).sum() for t in PT_THRESHOLDS], np.int32)
        g["sector"] = np.int32(s)
        graphs.append(g)
    return graphs, overflow


def _padded_graph(
    event: Event,
    edges: np.ndarray,
    is_true: np.ndarray,
    nodes: np.ndarray,
    ghost: np.ndarray,
    s: int,
    spec: SectorGraphSpec,
) -> dict[str, np.ndarray]:
    """Sector ``s``'s hits ``nodes`` (``ghost``: from the next sector) and its ``edges``, padded."""
    order = np.lexsort((event.phi[nodes], event.layer[nodes]))
    nodes, ghost = nodes[order], ghost[order]
    slot = np.full(len(event), -1, dtype=np.int64)
    slot[nodes] = np.arange(len(nodes))
    half_width = np.pi / spec.n_sectors
    centre = -np.pi + (s + 0.5) * 2 * half_width
    dphi = (event.phi[nodes] - centre + np.pi) % (2 * np.pi) - np.pi
    g: dict[str, np.ndarray] = {
        "nodes": np.zeros((spec.n_max, len(FEATURE_NAMES)), np.float32),
        "edge_index": np.zeros((spec.e_max, 2), np.int32),
        "edge_label": np.zeros(spec.e_max, np.float32),
        "node_mask": np.zeros(spec.n_max, np.uint8),
        "edge_mask": np.zeros(spec.e_max, np.uint8),
        "edge_pt": np.zeros(spec.e_max, np.float32),
        "node_hit_id": np.full(spec.n_max, -1, np.int64),
        "node_particle_id": np.zeros(spec.n_max, np.int64),
        "node_layer": np.full(spec.n_max, -1, np.int8),
        "node_ghost": np.zeros(spec.n_max, np.uint8),
    }
    k, m = len(nodes), len(edges)
    g["nodes"][:k] = np.stack([event.r[nodes] / 1000.0, dphi / half_width, event.z[nodes] / 1000.0], axis=1)
    g["node_mask"][:k] = 1
    g["node_hit_id"][:k] = event.hit_id[nodes]
    g["node_particle_id"][:k] = event.particle_id[nodes]
    g["node_layer"][:k] = event.layer[nodes]
    g["node_ghost"][:k] = ghost
    g["edge_index"][:m] = slot[edges]
    g["edge_label"][:m] = is_true
    g["edge_mask"][:m] = 1
    g["edge_pt"][:m] = np.where(is_true, event.pt[edges[:, 0]], 0.0)
    g["n_nodes"] = np.int32(k)
    g["n_edges"] = np.int32(m)
    return g


__all__ = ["FEATURE_NAMES", "OVERFLOW", "PT_THRESHOLDS", "SectorGraphSpec", "sector_graphs"]
