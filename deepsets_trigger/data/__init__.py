"""Data behind one interface: ``load_data(config) -> Dataset``.

A source (:mod:`deepsets_trigger.registry`) maps its ``data`` section to raw arrays ``(x, y)``;
splitting and normalisation (fitted on the training split only) are shared here. A model family
with inputs of its own (GarNet's hits + count, graphs) brings its own ``load_data``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepsets_trigger import registry
from deepsets_trigger.data.dataset import Dataset, evaluation_only
from deepsets_trigger.data.normalise import fit_normalisation
from deepsets_trigger.errors import ToolkitError

__all__ = ["Dataset", "check_classes", "check_finite", "evaluation_only", "load_data", "load_dataset", "split_indices"]


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


def load_data(cfg: Any) -> Dataset:
    """The dataset of ``cfg``: its family's loader, or sets from ``data.source``."""
    family = registry.family(cfg.model.kind)
    if family.load_data is not None:
        return family.load_data(cfg)
    return load_dataset(cfg.data, cfg.model.head)


def load_dataset(data_cfg: Any, head: str = "classification") -> Dataset:
    """Load, validate, split and normalise the sets ``data_cfg`` describes.

    Raises:
        ToolkitError: a source that yields no sets, NaN/inf values, one class only, or targets
            that do not fit ``head``.
    """
    source = registry.source(data_cfg.source)
    if source.load is None:
        raise ToolkitError(
            f"data.source {data_cfg.source} holds no sets (x, y); use it with a model family that reads it."
        )
    x, y, class_names = source.load(data_cfg)
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
        x_train=[transform(x[train])],
        y_train=y[train],
        x_val=[transform(x[val])],
        y_val=y[val],
        x_test=[transform(x[test])],
        y_test=y[test],
        task=task,
        class_names=class_names,
        normalisation=params,
    )
