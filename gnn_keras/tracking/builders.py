"""Graph builders over one event (or one sector): layer-ordered, directed edges inner → outer.

Every builder links hits on *different* layers whose indices differ by 1 … ``max_gap`` (1: the
adjacent layer), and returns ``(E, 2)`` hit indices, inner hit first, without duplicates:

- ``knn``: each hit's ``k`` nearest hits on the layers within ``max_gap`` (inwards and outwards)
  in a metric ``space``; the edge set is the union of those neighbour relations.
- ``epsilon``: every pair closer than ``epsilon`` (≤) in the same spaces.
- ``pattern`` (p-NN): the static window of a trigger: a hit on layer l links hits on layer l' > l
  with |Δφ| ≤ ``dphi_dr`` · (R_l' − R_l) (nominal radii: one window per layer pair) and whose line
  meets the beam line within |z0| ≤ ``z0_max`` (a Δz window around the straight projection from
  the luminous region); ``window`` scales both. Defaults: ``dphi_dr`` 6·10⁻⁴ rad/mm (the bending
  0.3·B/(2 pT) of pT = 0.5 GeV in 2 T) and ``z0_max`` 100 mm (the luminous region, σ ≈ 5 mm in
  TrackML, plus 3 σ of the z0 resolution of the long-strip pair, 3 × 19 mm).
- ``module_map``: all hit pairs on module pairs that true edges connected in training events
  (at least ``min_count`` times).

Spaces (lengths in mm, φ periodic): ``etaphi`` (default) = (``eta_scale``·η, ``phi_scale``·φ) with
both scales 1000 mm: the distance of the hits' directions seen from the origin as an arc at 1 m,
so ε = 50 mm means Δ(η, φ) = 0.05 — tracks from the luminous region keep η and bend slowly in φ,
which makes it the geometric space where consecutive hits of a track are nearest (on the real
TrackML event, 4-NN keeps 0.79 of the true edges here against 0.34 in ``xyz``); ``xyz``;
``rphiz`` = (``r_scale``·r, ``phi_scale``·φ, ``z_scale``·z).
All searches are scipy ``cKDTree`` queries per layer pair; nothing loops over hits in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deepsets_trigger.errors import ToolkitError
from gnn_keras.tracking.event import Event
from gnn_keras.tracking.geometry import RADII

SPACES = ("xyz", "rphiz", "etaphi")
_SPACE_PARAMS = {"space": "etaphi", "eta_scale": 1000.0, "phi_scale": 1000.0, "r_scale": 1.0, "z_scale": 1.0}
_USES = {"xyz": (), "etaphi": ("eta_scale", "phi_scale"), "rphiz": ("r_scale", "phi_scale", "z_scale")}
DEFAULTS: dict[str, dict[str, Any]] = {
    "knn": {"k": None, "max_gap": 1, **_SPACE_PARAMS},
    "epsilon": {"epsilon": None, "max_gap": 1, **_SPACE_PARAMS},
    "pattern": {"window": 1.0, "dphi_dr": 6e-4, "z0_max": 100.0, "max_gap": 1},
    "module_map": {"min_count": 1, "train": None},
}
STATIC = ("epsilon", "pattern", "module_map")  # candidate edges fixed at design time
LINK_BASE = 1 << 16  # module-pair key: inner module key · LINK_BASE + outer module key


@dataclass(frozen=True)
class BuilderSpec:
    """A validated builder name with every parameter filled in (hashable, printable)."""

    builder: str
    params: tuple[tuple[str, Any], ...]

    def __getitem__(self, name: str) -> Any:
        return dict(self.params)[name]

    def as_dict(self) -> dict[str, Any]:
        return {"builder": self.builder, **dict(self.params)}

    def label(self) -> str:
        shown = {"knn": ("k",), "epsilon": ("epsilon",), "pattern": ("window",), "module_map": ("min_count",)}
        return f"{self.builder} " + ", ".join(f"{p}={self[p]}" for p in shown[self.builder])


def _positive(builder: str, name: str, value: Any, integer: bool) -> Any:
    kind = "a positive integer" if integer else "a positive number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
        raise ToolkitError(f"{builder}: {name} must be {kind}, got {value!r}.")
    if value <= 0:
        raise ToolkitError(f"{builder}: {name} must be {kind} (> 0), got {value}; e.g. {name}: 4.")
    return int(value) if integer else float(value)


def builder_spec(builder: str, **params: Any) -> BuilderSpec:
    """Validate a builder and its parameters, filling defaults.

    Raises:
        ToolkitError: unknown builder or parameter, a missing ``k``/``epsilon``, k ≤ 0, ε ≤ 0, …
    """
    if builder not in DEFAULTS:
        raise ToolkitError(f"unknown graph builder {builder!r}; choose one of {', '.join(DEFAULTS)}.")
    known = DEFAULTS[builder]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ToolkitError(f"{builder}: unknown parameter {unknown[0]!r}; its parameters are {', '.join(known)}.")
    merged = {**known, **{k: v for k, v in params.items() if v is not None}}
    for name in ("k", "epsilon"):
        if name in known and merged[name] is None:
            raise ToolkitError(f"{builder} needs {name}, e.g. {{builder: {builder}, {name}: [4]}}.")
    for name in ("k", "max_gap", "min_count"):
        if name in merged:
            merged[name] = _positive(builder, name, merged[name], integer=True)
    for name in ("epsilon", "window", "dphi_dr", "z0_max", "eta_scale", "phi_scale", "r_scale", "z_scale"):
        if name in merged:
            merged[name] = _positive(builder, name, merged[name], integer=False)
    if "space" in merged and merged["space"] not in SPACES:
        raise ToolkitError(f"{builder}: space {merged['space']!r} is not one of {', '.join(SPACES)}.")
    if builder in ("knn", "epsilon"):
        for name in ("eta_scale", "phi_scale", "r_scale", "z_scale"):  # unused by the space: keep rows comparable
            if name not in _USES[merged["space"]]:
                merged[name] = _SPACE_PARAMS[name]
    return BuilderSpec(builder, tuple(sorted(merged.items())))


def embed(event: Event, spec: BuilderSpec) -> tuple[np.ndarray, np.ndarray | None]:
    """Coordinates of the hits in the builder's space and the cKDTree ``boxsize`` (φ periodic)."""
    space = spec["space"]
    if space == "xyz":
        return np.stack([event.x, event.y, event.z], axis=1), None
    scale = spec["phi_scale"]
    phi = periodic(scale * (event.phi + np.pi), 2 * np.pi * scale)
    if space == "etaphi":
        return np.stack([spec["eta_scale"] * event.eta, phi], axis=1), np.array([0.0, 2 * np.pi * scale])
    coords = np.stack([spec["r_scale"] * event.r, phi, spec["z_scale"] * event.z], axis=1)
    return coords, np.array([0.0, 2 * np.pi * scale, 0.0])


def periodic(values: np.ndarray, period: float) -> np.ndarray:
    """Values in [0, period), as a periodic cKDTree axis requires (np.mod can round up to the period)."""
    out = np.mod(values, period)
    return np.where(out >= period, 0.0, out)


def _by_layer(layer: np.ndarray) -> dict[int, np.ndarray]:
    order = np.argsort(layer, kind="stable")
    values, starts = np.unique(layer[order], return_index=True)
    return {int(v): part for v, part in zip(values, np.split(order, starts[1:]), strict=True)}


def _tree(points: np.ndarray, boxsize: np.ndarray | None) -> Any:
    from scipy.spatial import cKDTree

    return cKDTree(points, boxsize=boxsize)


def _unique_pairs(a: np.ndarray, b: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """Pairs oriented inner → outer, deduplicated and sorted."""
    swap = layer[a] > layer[b]
    inner, outer = np.where(swap, b, a), np.where(swap, a, b)
    n = len(layer)
    keys = np.unique(inner.astype(np.int64) * n + outer)
    return np.stack([keys // n, keys % n], axis=1)


def knn_neighbours(
    coords: np.ndarray, layer: np.ndarray, k: int, max_gap: int = 1, boxsize: np.ndarray | None = None
) -> np.ndarray:
    """(n, k) indices of each point's k nearest points on layers 1 … ``max_gap`` away, nearest first.

    Rows are padded with −1 when fewer than k candidates exist.
    """
    n = len(coords)
    out = np.full((n, k), -1, dtype=np.int64)
    groups = _by_layer(layer)
    trees = {lay: _tree(coords[idx], boxsize) for lay, idx in groups.items()}
    for lay, src in groups.items():
        dists, cands = [], []
        for other, tgt in groups.items():
            if not 1 <= abs(other - lay) <= max_gap:
                continue
            kk = min(k, len(tgt))
            d, j = trees[other].query(coords[src], k=kk)
            dists.append(np.asarray(d).reshape(len(src), kk))
            cands.append(tgt[np.asarray(j).reshape(len(src), kk)])
        if not dists:
            continue
        d = np.concatenate(dists, axis=1)
        c = np.concatenate(cands, axis=1)
        take = np.argsort(d, axis=1, kind="stable")[:, :k]
        out[src, : take.shape[1]] = np.take_along_axis(c, take, axis=1)
    return out


def knn_edges(
    coords: np.ndarray, layer: np.ndarray, k: int, max_gap: int = 1, boxsize: np.ndarray | None = None
) -> np.ndarray:
    """Union of the k-nearest-neighbour relations (see :func:`knn_neighbours`), inner → outer."""
    return edges_from_neighbours(knn_neighbours(coords, layer, k, max_gap, boxsize), layer, k)


def edges_from_neighbours(neighbours: np.ndarray, layer: np.ndarray, k: int) -> np.ndarray:
    """The k-NN edges from a neighbour table of at least k columns (a smaller k reuses a larger table)."""
    table = neighbours[:, :k]
    src = np.repeat(np.arange(len(table)), table.shape[1])
    dst = table.reshape(-1)
    keep = dst >= 0
    return _unique_pairs(src[keep], dst[keep], layer)


def epsilon_edges(
    coords: np.ndarray, layer: np.ndarray, epsilon: float, max_gap: int = 1, boxsize: np.ndarray | None = None
) -> np.ndarray:
    """All pairs at distance ≤ ``epsilon`` on layers 1 … ``max_gap`` apart, inner → outer."""
    groups = _by_layer(layer)
    trees = {lay: _tree(coords[idx], boxsize) for lay, idx in groups.items()}
    parts = []
    for lay, src in groups.items():
        for gap in range(1, max_gap + 1):
            if lay + gap not in groups:
                continue
            found = trees[lay].sparse_distance_matrix(trees[lay + gap], epsilon, output_type="ndarray")
            parts.append(np.stack([src[found["i"]], groups[lay + gap][found["j"]]], axis=1))
    return _sorted_pairs(parts, len(layer))


def _sorted_pairs(parts: list[np.ndarray], n: int) -> np.ndarray:
    if not parts:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(parts).astype(np.int64)
    keys = np.unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack([keys // n, keys % n], axis=1)


def pattern_edges(
    r: np.ndarray,
    phi: np.ndarray,
    z: np.ndarray,
    layer: np.ndarray,
    dphi_dr: float,
    z0_max: float,
    max_gap: int = 1,
    radii: np.ndarray = RADII,
) -> np.ndarray:
    """p-NN: pairs inside the static Δφ window and the z0 window (see the module docstring).

    Args:
        r, phi, z, layer: hit coordinates (mm, rad) and layer indices into ``radii``.
        dphi_dr: Δφ half-width per mm of nominal radial gap [rad/mm].
        z0_max: largest |z| at which the line through the two hits may meet the beam line [mm].
        max_gap: link layers up to this many layers out.
        radii: nominal layer radii [mm] (the window is one number per layer pair).
    """
    groups = _by_layer(layer)
    wrapped = periodic(phi + np.pi, 2 * np.pi)[:, None]
    trees = {lay: _tree(wrapped[idx], np.array([2 * np.pi])) for lay, idx in groups.items()}
    parts = []
    for lay, src in groups.items():
        for gap in range(1, max_gap + 1):
            if lay + gap not in groups:
                continue
            window = dphi_dr * (radii[lay + gap] - radii[lay])
            found = trees[lay].sparse_distance_matrix(trees[lay + gap], window, output_type="ndarray")
            a, b = src[found["i"]], groups[lay + gap][found["j"]]
            keep = np.abs(z[a] * r[b] - z[b] * r[a]) <= z0_max * (r[b] - r[a])
            parts.append(np.stack([a[keep], b[keep]], axis=1))
    return _sorted_pairs(parts, len(layer))


def train_module_map(events: list[Event]) -> tuple[np.ndarray, np.ndarray]:
    """Module-pair links of the true edges of ``events``: (sorted link keys, times seen)."""
    keys = [ev.module[ev.true_edges[:, 0]] * LINK_BASE + ev.module[ev.true_edges[:, 1]] for ev in events]
    if not keys:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(keys), return_counts=True)


def module_map_edges(module: np.ndarray, links: np.ndarray) -> np.ndarray:
    """Every hit pair (inner module, outer module) whose module pair is in ``links`` (sorted keys).

    Args:
        module: (n,) module key of each hit (:func:`gnn_keras.tracking.geometry.module_key`).
        links: sorted int64 keys ``inner · LINK_BASE + outer``.
    """
    module = np.asarray(module, dtype=np.int64)
    order = np.argsort(module, kind="stable")
    present, start, count = np.unique(module[order], return_index=True, return_counts=True)
    if len(present) == 0 or len(links) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    link_a, link_b = links // LINK_BASE, links % LINK_BASE
    pos_a = np.minimum(np.searchsorted(present, link_a), len(present) - 1)
    pos_b = np.minimum(np.searchsorted(present, link_b), len(present) - 1)
    use = (present[pos_a] == link_a) & (present[pos_b] == link_b)
    pos_a, pos_b = pos_a[use], pos_b[use]
    n_a, n_b = count[pos_a], count[pos_b]
    n_pairs = n_a * n_b
    rep = np.repeat(np.arange(len(pos_a)), n_pairs)
    within = np.arange(n_pairs.sum()) - np.repeat(np.cumsum(n_pairs) - n_pairs, n_pairs)
    a = order[start[pos_a][rep] + within // n_b[rep]]
    b = order[start[pos_b][rep] + within % n_b[rep]]
    return _sorted_pairs([np.stack([a, b], axis=1)], len(module))


def build_edges(event: Event, spec: BuilderSpec, module_links: np.ndarray | None = None) -> np.ndarray:
    """The edges of ``spec`` on ``event`` ((E, 2) hit indices, inner first).

    Args:
        event: the hits.
        spec: from :func:`builder_spec`.
        module_links: for ``module_map``: the trained links already cut at ``min_count``.
    """
    if spec.builder == "knn":
        coords, box = embed(event, spec)
        return knn_edges(coords, event.layer, spec["k"], spec["max_gap"], box)
    if spec.builder == "epsilon":
        coords, box = embed(event, spec)
        return epsilon_edges(coords, event.layer, spec["epsilon"], spec["max_gap"], box)
    if spec.builder == "pattern":
        w = spec["window"]
        return pattern_edges(
            event.r, event.phi, event.z, event.layer, w * spec["dphi_dr"], w * spec["z0_max"], spec["max_gap"]
        )
    if module_links is None:
        raise ValueError("module_map needs its trained links")
    return module_map_edges(event.module, module_links)
