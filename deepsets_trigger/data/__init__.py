"""Data sources behind one interface: ``load_dataset(config) -> Dataset``.

A source is a function from the ``data`` config to raw arrays ``(x, y)``; splitting and
normalisation (fitted on the training split only) are shared. Adding a source (Pythia8
jets, calorimeter clusters) is one entry in :data:`SOURCES`, never a change to the pipeline.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deepsets_trigger.data.arrays import load_npy
from deepsets_trigger.data.normalise import fit_normalisation
from deepsets_trigger.data.toy import make_toy
from deepsets_trigger.errors import ToolkitError


def load_h5(cfg: Any) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """A jet file in the hls4ml format (``data.path``)."""
    from deepsets_trigger.data.h5jets import read_jets

    if not cfg.path:
        raise ToolkitError(
            "data.source h5 needs data.path: a jet file in the hls4ml format (jetConstituentList, jets)."
        )
    return read_jets(cfg.path, cfg.n_constituents, cfg.feature_names, cfg.min_pt)


def load_pythia(cfg: Any) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Pythia8 + FastJet jets, generated once per setting and cached in ``data.cache_dir``."""
    from deepsets_trigger.data.h5jets import read_jets
    from deepsets_trigger.data.pythia_jets import JetGenConfig, jet_file

    gen = JetGenConfig(cfg.n_jets, cfg.seed, cfg.gen_workers, cfg.pt_min, cfg.pt_max, max(cfg.n_constituents, 32))
    gen.validate()
    path = jet_file(gen, cfg.cache_dir, progress=sys.stderr.isatty())
    return read_jets(path, cfg.n_constituents, cfg.feature_names, cfg.min_pt)


def load_calo(cfg: Any) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Calorimeter clusters (``data.path``, or simulated and cached): the most energetic hits.

    ``data.task: classification`` separates ``data.particles`` (π0 vs π± by default);
    ``regression`` targets the cluster's true energy / 100 GeV.
    """
    from deepsets_trigger.data.calo import as_sets

    return as_sets(calo_clusters(cfg), cfg.n_constituents, cfg.task, tuple(cfg.particles))


def calo_clusters(cfg: Any) -> dict[str, np.ndarray]:
    """The clusters of ``data.path``, or simulated from ``data.n_events/particles/pileup/seed`` and cached."""
    from deepsets_trigger.data.calo import CaloGenConfig, calo_file, read_calo

    if cfg.path:
        return read_calo(cfg.path)
    gen = CaloGenConfig(cfg.n_events, tuple(cfg.particles), pileup=cfg.pileup, seed=cfg.seed)
    gen.validate()
    return read_calo(calo_file(gen, cfg.cache_dir, progress=sys.stderr.isatty()))


# source name -> function(data_config) -> (x, y, class_names)
SOURCES: dict[str, Callable[[Any], tuple[np.ndarray, np.ndarray, tuple[str, ...]]]] = {
    "npy": load_npy,
    "toy": make_toy,
    "h5": load_h5,
    "pythia": load_pythia,
    "calo": load_calo,
}


@dataclass
class Dataset:
    """Normalised train / validation / test splits; ``y`` one-hot (classification) or 1-D (regression)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str
    class_names: tuple[str, ...] = ()
    normalisation: dict[str, Any] = field(default_factory=dict)

    @property
    def n_outputs(self) -> int:
        return self.y_train.shape[1] if self.task == "classification" else 1


def split_indices(n: int, test_fraction: float, val_fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """Shuffled (train, val, test) indices; ``test_fraction == 1`` puts every sample in test."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = n if test_fraction >= 1.0 else max(1, int(round(n * test_fraction)))
    n_val = 0 if test_fraction >= 1.0 else int(round(n * val_fraction))
    return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]


def check_finite(x: np.ndarray, what: str) -> None:
    """Reject NaN/inf with the number of bad samples: they would poison training silently."""
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ToolkitError(
            f"{what} contains NaN or infinite values in {int(bad.sum())} sample(s) (first at index {first}); "
            "clean or drop those samples before training."
        )


def check_classes(y_onehot: np.ndarray, class_names: tuple[str, ...] = ()) -> None:
    """Classification needs samples of at least two classes (one class: every AUC and ratio is meaningless)."""
    present = np.unique(np.asarray(y_onehot).argmax(1))
    if len(present) < 2:
        name = class_names[present[0]] if len(class_names) > present[0] else f"class {present[0]}"
        raise ToolkitError(
            f"data.y holds samples of one class only ({name}); classification needs at least two classes."
        )


def load_dataset(data_cfg: Any, head: str = "classification") -> Dataset:
    """Load, validate, split and normalise the samples described by ``data_cfg``."""
    if data_cfg.source not in SOURCES:
        raise ToolkitError(f"data.source: {data_cfg.source!r} is not one of {', '.join(map(repr, sorted(SOURCES)))}.")
    x, y, class_names = SOURCES[data_cfg.source](data_cfg)
    check_finite(x, "data.x")
    check_finite(y, "data.y")
    task = "classification" if y.ndim == 2 and y.shape[1] > 1 else "regression"
    if task != head:
        raise ToolkitError(
            f"the data hold {task} targets (y shape {y.shape}) but model.head is {head!r}; "
            f"set model.head: {task} or give {'one-hot' if head == 'classification' else 'scalar'} targets."
        )
    if task == "regression":
        y = y.reshape(-1).astype(np.float32)
    else:
        check_classes(y, class_names)
    train, val, test = split_indices(len(x), data_cfg.test_fraction, data_cfg.val_fraction, data_cfg.seed)
    fit_on = x[train] if len(train) else x
    transform, params = fit_normalisation(fit_on, data_cfg.normalisation)
    return Dataset(
        x_train=transform(x[train]),
        y_train=y[train],
        x_val=transform(x[val]),
        y_val=y[val],
        x_test=transform(x[test]),
        y_test=y[test],
        task=task,
        class_names=class_names,
        normalisation=params,
    )
