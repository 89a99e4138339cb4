"""Graph quality against the truth and against a k-NN graph; graph size; static FPGA cost.

Counts add over events (micro-averages): edge efficiency = true edges found / true edges (only
particles with pT ≥ ``pt_min`` in both), edge purity = built edges that are true / built edges,
and against a reference k-NN graph E_k, for a graph E_l: recall |E_k ∩ E_l| / |E_k| and
precision |E_k ∩ E_l| / |E_l| (the similarity measure of the ε-NN / p-NN trigger study).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from gnn_keras.tracking.builders import LINK_BASE
from gnn_keras.tracking.event import Event, edge_keys
from gnn_keras.tracking.geometry import BARREL, MODULE_STRIDE, module_bounds


def _grow_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(max(len(a), len(b)), dtype=np.int64)
    out[: len(a)] += a
    out[: len(b)] += b
    return out


@dataclass
class EdgeCounts:
    """Additive counts of one builder over events (``+`` sums them)."""

    n_events: int = 0
    n_nodes: int = 0
    n_edges: int = 0
    n_edges_true: int = 0
    n_true: int = 0
    n_true_found: int = 0
    n_ref: int = 0
    n_ref_common: int = 0
    n_pairs_examined: int = 0
    in_degree: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    out_degree: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __add__(self, other: EdgeCounts) -> EdgeCounts:
        scalars = {
            f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self) if "degree" not in f.name
        }
        return EdgeCounts(
            **scalars,
            in_degree=_grow_add(self.in_degree, other.in_degree),
            out_degree=_grow_add(self.out_degree, other.out_degree),
        )

    def summary(self) -> dict[str, float | None]:
        """Efficiency, purity, recall/precision vs the reference, and per-event sizes (None when undefined)."""

        def ratio(a: int, b: int) -> float | None:
            return a / b if b else None

        per_event = max(self.n_events, 1)
        return {
            "edge_efficiency": ratio(self.n_true_found, self.n_true),
            "edge_purity": ratio(self.n_edges_true, self.n_edges),
            "recall_vs_knn": ratio(self.n_ref_common, self.n_ref),
            "precision_vs_knn": ratio(self.n_ref_common, self.n_edges) if self.n_ref else None,
            "edges_per_event": self.n_edges / per_event,
            "nodes_per_event": self.n_nodes / per_event,
            "true_edges_per_event": self.n_true / per_event,
            "pairs_examined_per_event": self.n_pairs_examined / per_event if self.n_pairs_examined else None,
            "mean_degree": 2 * self.n_edges / self.n_nodes if self.n_nodes else None,
            "max_in_degree": int(np.flatnonzero(self.in_degree)[-1]) if self.in_degree.any() else 0,
            "max_out_degree": int(np.flatnonzero(self.out_degree)[-1]) if self.out_degree.any() else 0,
        }


def selected_true_edges(event: Event, pt_min: float = 0.0) -> np.ndarray:
    """The event's true edges whose particle has pT ≥ ``pt_min`` (GeV, at the inner hit)."""
    edges = event.true_edges
    if pt_min <= 0:
        return edges
    return edges[event.pt[edges[:, 0]] >= pt_min]


def degree_histograms(edges: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Histograms (index = degree) of the in-degree (outer ends) and out-degree (inner ends) of all nodes."""
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    in_deg = np.bincount(edges[:, 1], minlength=n_nodes)
    out_deg = np.bincount(edges[:, 0], minlength=n_nodes)
    return np.bincount(in_deg), np.bincount(out_deg)


def recall_precision(edges: np.ndarray, reference: np.ndarray, n_nodes: int) -> tuple[float | None, float | None]:
    """Recall |E_ref ∩ E| / |E_ref| and precision |E_ref ∩ E| / |E| of ``edges`` against ``reference``."""
    mine, ref = edge_keys(edges, n_nodes), edge_keys(reference, n_nodes)
    common = len(np.intersect1d(mine, ref, assume_unique=True))
    return (common / len(ref) if len(ref) else None), (common / len(mine) if len(mine) else None)


def edge_counts(
    event: Event,
    edges: np.ndarray,
    pt_min: float = 0.0,
    reference: np.ndarray | None = None,
    pairs_examined: int = 0,
) -> EdgeCounts:
    """The counts of one built graph on one event.

    Args:
        event: the event (its truth defines the true edges).
        edges: (E, 2) built edges, inner first.
        pt_min: efficiency counts only true edges of particles with pT ≥ pt_min [GeV].
        reference: optional (E_k, 2) reference k-NN edges.
        pairs_examined: hit pairs the static sensor links put through comparators (0 if not static).
    """
    n = len(event)
    mine = edge_keys(edges, n)
    true_all = edge_keys(event.true_edges, n)
    true_sel = edge_keys(selected_true_edges(event, pt_min), n)
    in_hist, out_hist = degree_histograms(edges, n)
    counts = EdgeCounts(
        n_events=1,
        n_nodes=n,
        n_edges=len(mine),
        n_edges_true=len(np.intersect1d(mine, true_all, assume_unique=True)),
        n_true=len(true_sel),
        n_true_found=len(np.intersect1d(mine, true_sel, assume_unique=True)),
        n_pairs_examined=pairs_examined,
        in_degree=in_hist,
        out_degree=out_hist,
    )
    if reference is not None:
        ref = edge_keys(reference, n)
        counts.n_ref = len(ref)
        counts.n_ref_common = len(np.intersect1d(mine, ref, assume_unique=True))
    return counts


def static_cost(links: np.ndarray, n_sectors: int) -> dict[str, float | int]:
    """Design-time FPGA cost of a static builder from its sensor links.

    Args:
        links: link keys ``inner · LINK_BASE + outer`` (:mod:`gnn_keras.tracking.sensors`).
        n_sectors: φ sectors the detector is split into (a link belongs to its inner module's sector).

    Returns:
        ``candidate_edges`` (comparators of the largest sector), ``candidate_edges_total``, and the
        fan-out (links leaving a sensor) and fan-in (links arriving) per sensor: mean over the
        sensors of the layers that can have such links, and max.
    """
    inner, outer = links // LINK_BASE, links % LINK_BASE
    layer_in, module_in = inner // MODULE_STRIDE, inner % MODULE_STRIDE
    centre = np.zeros(len(links))
    for lay in np.unique(layer_in):
        _, lo, hi, _, _ = module_bounds(int(lay))
        sel = layer_in == lay
        centre[sel] = ((lo + hi) / 2)[module_in[sel] - 1]
    sector = np.floor(np.mod(centre + np.pi, 2 * np.pi) * n_sectors / (2 * np.pi)).astype(np.int64) % n_sectors
    per_sector = np.bincount(sector, minlength=n_sectors)
    layers_out = sorted({int(x) for x in np.unique(layer_in)})
    layers_in = sorted({int(x) for x in np.unique(outer // MODULE_STRIDE)})
    n_out_sensors = sum(BARREL[lay].n_modules for lay in layers_out) or 1
    n_in_sensors = sum(BARREL[lay].n_modules for lay in layers_in) or 1
    _, fan_out = np.unique(inner, return_counts=True)
    _, fan_in = np.unique(outer, return_counts=True)
    return {
        "candidate_edges": int(per_sector.max()) if len(links) else 0,
        "candidate_edges_total": int(len(links)),
        "fan_out_mean": len(links) / n_out_sensors,
        "fan_out_max": int(fan_out.max()) if len(fan_out) else 0,
        "fan_in_mean": len(links) / n_in_sensors,
        "fan_in_max": int(fan_in.max()) if len(fan_in) else 0,
    }
