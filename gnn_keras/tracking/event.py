"""One event's barrel hits with their truth, and the true edges between them.

A true edge joins two hits of the same particle on consecutive layers *of that particle* (the
next layer it left a hit on, normally the adjacent one), directed inner → outer: the
"layer-wise" truth of graph-based tracking. Noise hits (``particle_id == 0``) have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from gnn_keras.tracking.geometry import module_key


@dataclass(eq=False)
class Event:
    """Barrel hits of one event (TrackML columns), in file order; lengths in mm, momenta in GeV.

    ``layer`` is the barrel layer index 0–9 (inner to outer). ``particle_id`` is 0 for noise;
    ``tpx, tpy, tpz`` are the true momentum at the hit, ``weight`` TrackML's scoring weight.
    """

    name: str
    hit_id: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    volume_id: np.ndarray
    layer_id: np.ndarray
    module_id: np.ndarray
    layer: np.ndarray
    particle_id: np.ndarray
    tx: np.ndarray
    ty: np.ndarray
    tz: np.ndarray
    tpx: np.ndarray
    tpy: np.ndarray
    tpz: np.ndarray
    weight: np.ndarray

    def __len__(self) -> int:
        return len(self.hit_id)

    @cached_property
    def r(self) -> np.ndarray:
        return np.hypot(self.x, self.y)

    @cached_property
    def phi(self) -> np.ndarray:
        return np.arctan2(self.y, self.x)

    @cached_property
    def eta(self) -> np.ndarray:
        """Pseudorapidity of the hit position seen from the origin."""
        return np.arcsinh(self.z / self.r)

    @cached_property
    def pt(self) -> np.ndarray:
        """True transverse momentum of the hit's particle (0 for noise)."""
        return np.where(self.particle_id != 0, np.hypot(self.tpx, self.tpy), 0.0)

    @cached_property
    def module(self) -> np.ndarray:
        """Module key unique over the barrel (layer and module_id)."""
        return module_key(self.layer, self.module_id)

    @cached_property
    def true_edges(self) -> np.ndarray:
        """(E, 2) hit indices of the true edges, inner hit first (see the module docstring)."""
        return true_edges(self.particle_id, self.layer)


def true_edges(particle_id: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """All hit pairs of each particle between its consecutive occupied layers, inner first.

    Args:
        particle_id: (n,) particle of each hit, 0 for noise.
        layer: (n,) layer index of each hit.

    Returns:
        (E, 2) int64 hit indices; a particle with two hits on one layer (module overlaps) gives
        every pair between consecutive layers.
    """
    particle_id = np.asarray(particle_id, dtype=np.int64)
    layer = np.asarray(layer, dtype=np.int64)
    real = np.flatnonzero(particle_id != 0)
    if len(real) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    order = real[np.lexsort((layer[real], particle_id[real]))]
    pid, lay = particle_id[order], layer[order]
    # groups of hits sharing (particle, layer)
    starts = np.flatnonzero(np.r_[True, (pid[1:] != pid[:-1]) | (lay[1:] != lay[:-1])])
    sizes = np.diff(np.r_[starts, len(order)])
    linked = pid[starts[:-1]] == pid[starts[1:]]  # group g and g + 1 belong to one particle
    g = np.flatnonzero(linked)
    if len(g) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    n_a, n_b = sizes[g], sizes[g + 1]
    n_pairs = n_a * n_b
    pair_group = np.repeat(np.arange(len(g)), n_pairs)
    within = np.arange(n_pairs.sum()) - np.repeat(np.cumsum(n_pairs) - n_pairs, n_pairs)
    a = starts[g][pair_group] + within // n_b[pair_group]
    b = starts[g + 1][pair_group] + within % n_b[pair_group]
    return np.stack([order[a], order[b]], axis=1)


def edge_keys(edges: np.ndarray, n_hits: int) -> np.ndarray:
    """Sorted unique int64 keys ``inner · n + outer`` of directed edges (for set operations)."""
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    return np.unique(edges[:, 0] * n_hits + edges[:, 1])


def keys_to_edges(keys: np.ndarray, n_hits: int) -> np.ndarray:
    """Inverse of :func:`edge_keys`."""
    keys = np.asarray(keys, dtype=np.int64)
    return np.stack([keys // n_hits, keys % n_hits], axis=1)
