"""Static candidate edges between sensors: what a static builder fixes at design time.

A trigger cannot afford k-NN, but ``epsilon``, ``pattern`` and ``module_map`` can be decided when
the firmware is designed: the sensor (module) pairs that can ever hold an edge. Online, each such
sensor link is one comparator stage fed by the two sensors' hits. The links here are exact under
the cylinder-patch model of :mod:`gnn_keras.tracking.geometry` (hits on the nominal radii, each in
its module's φ and z range), so every hit-level edge of a generated event lies on one of them:

- ``pattern``: the Δφ window and the z0 window are separable, so a link needs the modules' φ
  ranges within the Δφ window *and* some line through their z ranges to meet the beam line
  within ``z0_max`` (z0 is linear in the two z values: its range is set by the corners);
- ``epsilon``: the smallest distance between two module patches is a sum of a φ-gap term and a
  z-gap (η-gap) term in every space, each monotonic in the gap, so a link needs that sum ≤ ε²;
- ``module_map``: the trained module pairs themselves.

Links are int64 keys ``inner · LINK_BASE + outer`` of module keys (``layer · 4096 + module_id``).
"""

from __future__ import annotations

import numpy as np

from gnn_keras.tracking.builders import LINK_BASE, BuilderSpec
from gnn_keras.tracking.geometry import BARREL, N_MODULES, RADII, dense_module, module_bounds, module_key


def _phi_gap(layer_a: int, layer_b: int) -> np.ndarray:
    """(n_φa, n_φb) smallest |Δφ| between the φ ranges of the modules of two layers."""
    _, lo_a, hi_a, _, _ = module_bounds(layer_a)
    _, lo_b, hi_b, _, _ = module_bounds(layer_b)
    n_a, n_b = BARREL[layer_a].n_phi, BARREL[layer_b].n_phi
    centre_a, width_a = (lo_a + hi_a)[:n_a] / 2, (hi_a - lo_a)[:n_a]
    centre_b, width_b = (lo_b + hi_b)[:n_b] / 2, (hi_b - lo_b)[:n_b]
    d = np.abs((centre_a[:, None] - centre_b[None, :] + np.pi) % (2 * np.pi) - np.pi)
    return np.maximum(0.0, d - (width_a[:, None] + width_b[None, :]) / 2)


def _z_rows(layer: int) -> tuple[np.ndarray, np.ndarray]:
    spec = BARREL[layer]
    _, _, _, z_lo, z_hi = module_bounds(layer)
    step = spec.n_phi  # module i_z · n_φ is the first of row i_z
    return z_lo[::step], z_hi[::step]


def _interval_gap(lo_a: np.ndarray, hi_a: np.ndarray, lo_b: np.ndarray, hi_b: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, np.maximum(lo_a[:, None] - hi_b[None, :], lo_b[None, :] - hi_a[:, None]))


def _links_from_masks(layer_a: int, layer_b: int, phi_ok: np.ndarray, z_ok: np.ndarray) -> np.ndarray:
    """Link keys of module pairs with ``phi_ok[iφa, iφb]`` and ``z_ok[iza, izb]`` (or a 4-D mask)."""
    n_phi_a, n_phi_b = BARREL[layer_a].n_phi, BARREL[layer_b].n_phi
    if z_ok.ndim == 4:  # full (iφa, iφb, iza, izb) mask for non-separable conditions
        ia, ib, za, zb = np.nonzero(z_ok)
    else:
        pa, pb = np.nonzero(phi_ok)
        qa, qb = np.nonzero(z_ok)
        ia, ib = np.repeat(pa, len(qa)), np.repeat(pb, len(qa))
        za, zb = np.tile(qa, len(pa)), np.tile(qb, len(pa))
    inner = module_key(layer_a, 1 + za * n_phi_a + ia)
    outer = module_key(layer_b, 1 + zb * n_phi_b + ib)
    return inner * LINK_BASE + outer


def pattern_links(dphi_dr: float, z0_max: float, max_gap: int = 1) -> np.ndarray:
    """Sorted sensor links of the ``pattern`` builder with these (already scaled) windows."""
    parts = []
    for a in range(len(BARREL)):
        for b in range(a + 1, min(a + max_gap, len(BARREL) - 1) + 1):
            r_a, r_b = RADII[a], RADII[b]
            phi_ok = _phi_gap(a, b) <= dphi_dr * (r_b - r_a)
            lo_a, hi_a = _z_rows(a)
            lo_b, hi_b = _z_rows(b)
            z0_low = (lo_a[:, None] * r_b - hi_b[None, :] * r_a) / (r_b - r_a)
            z0_high = (hi_a[:, None] * r_b - lo_b[None, :] * r_a) / (r_b - r_a)
            z_ok = (z0_low <= z0_max) & (z0_high >= -z0_max)
            parts.append(_links_from_masks(a, b, phi_ok, z_ok))
    return np.unique(np.concatenate(parts))


def epsilon_links(spec: BuilderSpec) -> np.ndarray:
    """Sorted sensor links of an ``epsilon`` builder: module patches closer than ε."""
    eps2 = spec["epsilon"] ** 2
    space = spec["space"]
    parts = []
    for a in range(len(BARREL)):
        for b in range(a + 1, min(a + spec["max_gap"], len(BARREL) - 1) + 1):
            r_a, r_b = RADII[a], RADII[b]
            gphi = _phi_gap(a, b)
            lo_a, hi_a = _z_rows(a)
            lo_b, hi_b = _z_rows(b)
            if space == "xyz":
                phi_term = r_a**2 + r_b**2 - 2 * r_a * r_b * np.cos(gphi)
                z_term = _interval_gap(lo_a, hi_a, lo_b, hi_b) ** 2
            elif space == "rphiz":
                phi_term = (spec["r_scale"] * (r_b - r_a)) ** 2 + (spec["phi_scale"] * gphi) ** 2
                z_term = (spec["z_scale"] * _interval_gap(lo_a, hi_a, lo_b, hi_b)) ** 2
            else:
                phi_term = (spec["phi_scale"] * gphi) ** 2
                eta_gap = _interval_gap(
                    np.arcsinh(lo_a / r_a), np.arcsinh(hi_a / r_a), np.arcsinh(lo_b / r_b), np.arcsinh(hi_b / r_b)
                )
                z_term = (spec["eta_scale"] * eta_gap) ** 2
            ok = phi_term[:, :, None, None] + z_term[None, None, :, :] <= eps2
            parts.append(_links_from_masks(a, b, phi_term <= eps2, ok))
    return np.unique(np.concatenate(parts))


def sensor_links(spec: BuilderSpec, module_links: np.ndarray | None = None) -> np.ndarray | None:
    """The static sensor links of ``spec``; None for ``knn`` (its candidates depend on occupancy)."""
    if spec.builder == "pattern":
        return pattern_links(spec["window"] * spec["dphi_dr"], spec["window"] * spec["z0_max"], spec["max_gap"])
    if spec.builder == "epsilon":
        return epsilon_links(spec)
    if spec.builder == "module_map":
        return np.asarray(module_links, dtype=np.int64)
    return None


def link_matrix(links: np.ndarray) -> object:
    """Sparse (N_MODULES × N_MODULES) 0/1 matrix of the links (rows: inner module)."""
    from scipy.sparse import csr_matrix

    inner = dense_module(links // LINK_BASE)
    outer = dense_module(links % LINK_BASE)
    return csr_matrix((np.ones(len(links), dtype=np.float64), (inner, outer)), shape=(N_MODULES, N_MODULES))


def pairs_on_links(module: np.ndarray, matrix: object) -> int:
    """Hit pairs an event puts on the sensor links: Σ over links n_inner · n_outer (the comparisons)."""
    counts = np.bincount(dense_module(module), minlength=N_MODULES).astype(np.float64)
    return int(round(counts @ (matrix @ counts)))
