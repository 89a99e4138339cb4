"""Barrel hits of generated particles: helices, the layers' resolution, noise, TrackML columns.

Charged final-state particles with pT ≥ ``pt_min`` (0.1 GeV) and |η| ≤ ``eta_max`` (4, beyond the
innermost layer's reach) are propagated as ideal helices (:mod:`gnn_keras.tracking.helix`) in a
field of ``field_t`` (2 T); a hit is recorded at the first outward crossing of each barrel layer
with |z| ≤ its half-length, smeared by the layer's Gaussian resolution in rφ and z
(:mod:`gnn_keras.tracking.geometry`), and given the module it lands on. Hits stay on the nominal
cylinders (no module tilt), no multiple scattering or material interactions. Noise hits, a
fraction ``noise_fraction`` of all hits (the real TrackML subset has 0.23), are spread uniformly
over each layer in proportion to its particle hits. Every interaction gets its own vertex,
z ~ N(0, ``vertex_sigma_z``) (see :mod:`gnn_keras.tracking.generate`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gnn_keras.tracking.geometry import BARREL, HALF_LENGTHS, RADII, module_index
from gnn_keras.tracking.helix import cylinder_crossings

if TYPE_CHECKING:
    from gnn_keras.tracking.generate import TrackGenConfig

SIGMA_RPHI = np.array([layer.sigma_rphi for layer in BARREL])
SIGMA_Z = np.array([layer.sigma_z for layer in BARREL])
PARTICLE_STRIDE = 1_000_000  # particle_id = (interaction + 1) · stride + Pythia index
_TRUTH = ("tx", "ty", "tz", "tpx", "tpy", "tpz")


def propagate(p: np.ndarray, q: np.ndarray, v: np.ndarray, field_t: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(particle, layer)`` indices of the hits and their true position and momentum."""
    cross = cylinder_crossings(v, p, q, RADII, field_t)
    inside = cross["hit"] & (np.abs(cross["z"]) <= HALF_LENGTHS[None, :])
    part, layer = np.nonzero(inside)
    return np.stack([part, layer], axis=1), {k: cross[k][part, layer] for k in ("x", "y", "z", "px", "py", "pz")}


def event_arrays(
    interactions: list[dict[str, np.ndarray]], cfg: TrackGenConfig, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Hits, truth and particles columns of one event from its interactions' particles.

    Args:
        interactions: the charged particles of each collision
            (:func:`gnn_keras.tracking.collisions.charged_particles`), the triggering one first.
        cfg: the generator settings (vertex spread, field, noise fraction).
        rng: the event's random numbers (drawn in a fixed order: vertices, smearing, noise).

    Returns:
        The TrackML ``hits``, ``truth`` and ``particles`` columns.
    """
    vertex_z = rng.normal(0.0, cfg.vertex_sigma_z, size=len(interactions))
    p = np.concatenate([it["p"] for it in interactions])
    q = np.concatenate([it["q"] for it in interactions])
    v = np.concatenate([it["v"] + [0.0, 0.0, vz] for it, vz in zip(interactions, vertex_z, strict=True)])
    pid = np.concatenate([(i + 1) * PARTICLE_STRIDE + it["index"] for i, it in enumerate(interactions)]).astype(
        np.int64
    )
    which, true = propagate(p, q, v, cfg.field_t)
    part = which[:, 0]
    hits = _measured(which[:, 1], true, rng)
    n_true = len(part)
    hits["particle_id"] = pid[part]
    hits["weight"] = np.full(n_true, 1.0 / max(n_true, 1))
    if cfg.noise_fraction > 0 and n_true:
        n_noise = int(round(cfg.noise_fraction / (1 - cfg.noise_fraction) * n_true))
        noise = _noise(n_noise, hits["layer"], rng)
        hits = {k: np.r_[column, noise[k]] for k, column in hits.items()}
    particles = {
        "particle_id": pid,
        "vx": v[:, 0],
        "vy": v[:, 1],
        "vz": v[:, 2],
        "px": p[:, 0],
        "py": p[:, 1],
        "pz": p[:, 2],
        "q": q.astype(np.int64),
        "nhits": np.bincount(part, minlength=len(pid)),
    }
    columns, truth = _trackml_columns(hits)
    return columns, truth, particles


def _measured(layer: np.ndarray, true: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Hits on ``layer`` at the true crossings, smeared in rφ and z by the layer's resolution."""
    radius = RADII[layer]
    phi_true = np.arctan2(true["y"], true["x"])
    phi = phi_true + rng.normal(size=len(layer)) * SIGMA_RPHI[layer] / radius
    # a measurement lies on its sensor: clip the smeared z to the layer
    z = np.clip(true["z"] + rng.normal(size=len(layer)) * SIGMA_Z[layer], -HALF_LENGTHS[layer], HALF_LENGTHS[layer])
    truth = {**{f"t{k}": true[k] for k in ("x", "y", "z")}, **{f"tp{k}": true[f"p{k}"] for k in "xyz"}}
    return {"layer": layer, "phi": phi, "z": z, "radius": radius, **truth}


def _noise(n_noise: int, layer: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``n_noise`` hits spread uniformly over each layer, in proportion to the particle hits ``layer``."""
    per_layer = rng.multinomial(n_noise, np.bincount(layer, minlength=len(BARREL)) / len(layer))
    noise_layer = np.repeat(np.arange(len(BARREL)), per_layer)
    noise_phi = rng.uniform(-np.pi, np.pi, n_noise)
    noise_z = rng.uniform(-1.0, 1.0, n_noise) * HALF_LENGTHS[noise_layer]
    noise_r = RADII[noise_layer]
    return {
        "layer": noise_layer,
        "phi": noise_phi,
        "z": noise_z,
        "radius": noise_r,
        "tx": noise_r * np.cos(noise_phi),
        "ty": noise_r * np.sin(noise_phi),
        "tz": noise_z,
        **{f"tp{k}": np.zeros(n_noise) for k in "xyz"},
        "particle_id": np.zeros(n_noise, dtype=np.int64),  # TrackML's id of noise
        "weight": np.zeros(n_noise),
    }


def _trackml_columns(hits: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The ``hits`` and ``truth`` columns, ordered by layer, module and particle, numbered from 1."""
    layer, phi, z, radius = hits["layer"], hits["phi"], hits["z"], hits["radius"]
    module = module_index(layer, phi, z)
    order = np.lexsort((hits["particle_id"], module, layer))
    volume = np.array([s.volume_id for s in BARREL])[layer]
    layer_id = np.array([s.layer_id for s in BARREL])[layer]
    hit_id = np.arange(1, len(layer) + 1, dtype=np.int64)
    columns = {
        "hit_id": hit_id,
        "x": (radius * np.cos(phi))[order],
        "y": (radius * np.sin(phi))[order],
        "z": z[order],
        "volume_id": volume[order],
        "layer_id": layer_id[order],
        "module_id": module[order],
    }
    truth = {"hit_id": hit_id, "particle_id": hits["particle_id"][order]}
    truth.update({k: hits[k][order] for k in _TRUTH})
    truth["weight"] = hits["weight"][order]
    return columns, truth


__all__ = ["PARTICLE_STRIDE", "SIGMA_RPHI", "SIGMA_Z", "event_arrays", "propagate"]
