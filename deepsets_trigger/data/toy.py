"""A small, quick, learnable point-cloud source for tests and smoke runs (not physics)."""

from __future__ import annotations

from typing import Any

import numpy as np


def make_toy(cfg: Any) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Jet-like sets: class k has a harder pT spectrum and a narrower (η, φ) core as k grows.

    Features per constituent are (pT, η_rel, φ_rel), already scaled to O(1) like the
    fixed-range normalisation of the published jet studies; pT-ordered, zero-padded.
    For ``task: regression`` the target is the scalar pT sum.
    """
    rng = np.random.default_rng(cfg.seed)
    n, c, k = cfg.n_samples, cfg.n_constituents, cfg.n_classes
    labels = rng.integers(0, k, size=n)
    frac = (labels + 1) / k
    n_real = np.clip(rng.poisson(c * (1.0 - 0.5 * frac)) + 1, 1, c)
    pt = rng.exponential(1.0, size=(n, c)) * (0.15 + 0.45 * frac)[:, None]
    width = (0.25 - 0.15 * frac)[:, None]
    eta = rng.normal(0.0, 1.0, size=(n, c)) * width
    phi = rng.normal(0.0, 1.0, size=(n, c)) * width * (1.0 + 0.5 * (labels % 2))[:, None]
    x = np.stack([pt, eta, phi], axis=-1).astype(np.float32)
    order = np.argsort(-pt, axis=1)
    x = np.take_along_axis(x, order[..., None], axis=1)
    x[np.arange(c)[None, :] >= n_real[:, None]] = 0.0
    if cfg.task == "regression":
        return x, x[..., 0].sum(axis=1, keepdims=True), ()
    return x, np.eye(k, dtype=np.float32)[labels], tuple(f"class_{i}" for i in range(k))
