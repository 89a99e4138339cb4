"""Input scaling: fixed ranges (as the published jet studies), or standard/robust fitted on train."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from deepsets_trigger.errors import ToolkitError


def _real_constituents(x: np.ndarray) -> np.ndarray:
    """Rows that are not zero padding, flattened to (n, F), so padding does not bias the fit."""
    flat = x.reshape(-1, x.shape[-1])
    keep = np.any(flat != 0, axis=1)
    return flat[keep] if keep.any() else flat


def fit_normalisation(x_train: np.ndarray, cfg: Any) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, Any]]:
    """Return ``(transform, params)``; zero-padded constituents stay exactly zero."""
    n_feat = x_train.shape[-1]
    kind = cfg.kind if cfg.kind != "auto" else ("fixed" if cfg.scale is not None else "standard")
    if kind == "none":
        offset, scale = np.zeros(n_feat), np.ones(n_feat)
    elif kind == "fixed":
        scale = np.ones(n_feat) if cfg.scale is None else np.asarray(cfg.scale, dtype=np.float64)
        if scale.shape != (n_feat,):
            raise ToolkitError(
                f"data.normalisation.scale has {scale.size} value(s) but the data have {n_feat} feature(s); "
                "give one scale per feature, e.g. [219, 0.2, 0.2] for (pT, η_rel, φ_rel)."
            )
        offset = np.zeros(n_feat)
    else:
        real = _real_constituents(x_train)
        if kind == "standard":
            offset, scale = real.mean(axis=0), real.std(axis=0)
        else:  # robust: median and inter-quartile range
            q25, offset, q75 = np.percentile(real, [25, 50, 75], axis=0)
            scale = q75 - q25
        scale = np.where(scale > 0, scale, 1.0)
    offset32, scale32 = offset.astype(np.float32), scale.astype(np.float32)

    def transform(x: np.ndarray) -> np.ndarray:
        padding = np.all(x == 0, axis=-1, keepdims=True)
        out = ((x - offset32) / scale32).astype(np.float32)
        return np.where(padding, np.float32(0), out)

    return transform, {"kind": kind, "offset": offset.tolist(), "scale": scale.tolist()}
