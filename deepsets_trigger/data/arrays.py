"""Arrays on disk: ``.npy`` X of shape (N, C, F) and y one-hot (N, K), class indices (N,) or targets."""

from __future__ import annotations

from typing import Any

import numpy as np

from deepsets_trigger.data.jet_features import JET_CLASSES
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import read_npy


def as_list(x: Any) -> list[Any]:
    """A model's inputs (or outputs) as a list: one array, or the list of several."""
    return x if isinstance(x, list) else [x]


def n_samples(x: Any) -> int:
    """Samples in one array or in a list of per-input arrays."""
    return len(as_list(x)[0])


def load_npy(cfg: Any) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Load ``data.x``/``data.y``; keep the first ``n_constituents`` and the chosen ``features``."""
    if not cfg.x or not cfg.y:
        raise ToolkitError("data.source npy needs data.x and data.y: paths of .npy files (X: N×C×F, y: one-hot N×K).")
    x = read_npy(cfg.x, "data.x").astype(np.float32)
    y = read_npy(cfg.y, "data.y")
    if x.ndim != 3:
        raise ToolkitError(f"data.x must have shape (N, C, F) = (samples, constituents, features); got {x.shape}.")
    if len(y) != len(x):
        raise ToolkitError(f"data.x has {len(x)} samples but data.y has {len(y)}; they must match.")
    if cfg.n_constituents > x.shape[1]:
        raise ToolkitError(
            f"data.n_constituents is {cfg.n_constituents} but {cfg.x} holds only {x.shape[1]} constituents per sample."
        )
    x = x[:, : cfg.n_constituents, :]
    if cfg.features is not None:
        bad = [f for f in cfg.features if not 0 <= f < x.shape[2]]
        if bad:
            raise ToolkitError(f"data.features: column(s) {bad} out of range for {x.shape[2]} features.")
        x = x[:, :, cfg.features]
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        if y.min() < 0:
            raise ToolkitError(f"data.y: class indices must be ≥ 0, found {int(y.min())}.")
        y = np.eye(max(int(y.max()) + 1, 2), dtype=np.float32)[y]
    y = y.astype(np.float32)
    n_classes = y.shape[1] if y.ndim == 2 else 0
    names = JET_CLASSES if n_classes == 5 else tuple(f"class_{i}" for i in range(n_classes))
    return x, y, names
