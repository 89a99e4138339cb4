"""Reading jet files in the hls4ml LHC jet format (generated ones and the public Zenodo files).

Keys: ``jetConstituentList`` (N, C, 16), ``jets`` (N, K) whose last six columns are
``j_g, j_q, j_w, j_z, j_t, j_undef``, ``jetFeatureNames`` and ``particleFeatureNames`` (bytes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.data.jet_features import JET_CLASSES
from deepsets_trigger.errors import ToolkitError

REQUIRED = ("jetConstituentList", "jets", "jetFeatureNames", "particleFeatureNames")
DEFAULT_FEATURES = ("j1_pt", "j1_etarel", "j1_phirel")


def _names(dataset: Any) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in dataset[()]]


def open_jet_file(path: str | Path) -> Any:
    """Open an h5 jet file, with one clear error for a missing, truncated or foreign file."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ToolkitError(f"jet file {str(path)!r} does not exist.")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ToolkitError(f"{str(path)!r} is not a readable HDF5 file (truncated or corrupt?): {exc}") from None
    missing = [k for k in REQUIRED if k not in f]
    if missing:
        f.close()
        raise ToolkitError(
            f"{str(path)!r} lacks {', '.join(missing)}: expected the hls4ml jet format with keys {', '.join(REQUIRED)}."
        )
    return f


def read_jets(
    path: str | Path, n_constituents: int, features: tuple[str, ...] | list[str] = DEFAULT_FEATURES, min_pt: float = 0.0
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(x (N, n_constituents, F), one-hot y (N, 5), class names) from a jet file."""
    with open_jet_file(path) as f:
        particle_names = _names(f["particleFeatureNames"])
        jet_names = _names(f["jetFeatureNames"])
        unknown = [n for n in features if n not in particle_names]
        if unknown:
            raise ToolkitError(
                f"data.feature_names: {unknown[0]!r} is not in {path}; it has {', '.join(particle_names)}."
            )
        shape = f["jetConstituentList"].shape
        if n_constituents > shape[1]:
            raise ToolkitError(f"data.n_constituents is {n_constituents} but {path} holds {shape[1]} per jet.")
        try:
            constituents = f["jetConstituentList"][:, :n_constituents, :]
            jets = f["jets"][()]
        except OSError as exc:
            raise ToolkitError(f"{str(path)!r} cannot be read to the end (truncated?): {exc}") from None
    columns = [particle_names.index(n) for n in features]
    x = constituents[..., columns].astype(np.float32)
    labels = jets[:, -6:-1]
    keep = labels.sum(axis=1) == 1
    if min_pt > 0 and "j_pt" in jet_names:
        keep &= jets[:, jet_names.index("j_pt")] >= min_pt
    if not keep.any():
        raise ToolkitError(f"{path}: no jet passes the selection (labelled, j_pt ≥ {min_pt}).")
    return x[keep], labels[keep].astype(np.float32), JET_CLASSES
