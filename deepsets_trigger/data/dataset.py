"""One container for every family's data: train / validation / test splits of inputs and targets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Splits of a model's inputs (a list: one array per model input) and targets.

    ``y_*`` is one array, or a list with one array per head (``heads``, with their ``losses``);
    ``task`` is ``classification`` | ``regression`` (or a family's own, e.g. GarNet's ``both``);
    ``extras`` holds arrays a family's comparison needs (e.g. ``energy_test``); ``normalisation``
    the scaling fitted on the training split.
    """

    x_train: list[np.ndarray]
    y_train: Any
    x_val: list[np.ndarray]
    y_val: Any
    x_test: list[np.ndarray]
    y_test: Any
    task: str
    class_names: tuple[str, ...] = ()
    heads: tuple[str, ...] = ()
    losses: tuple[str, ...] = ()
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    normalisation: dict[str, Any] = field(default_factory=dict)

    @property
    def n_outputs(self) -> int:
        """Output width of a single head (classes or 1), or the number of heads."""
        if self.heads:
            return len(self.heads)
        return int(self.y_train.shape[1]) if self.task == "classification" else 1

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(int(d) for d in a.shape[1:]) for a in self.x_test]

    @property
    def calibration(self) -> list[np.ndarray]:
        """Inputs to calibrate ranges on: the training split, or the test samples when there is none."""
        return self.x_train if len(self.x_train[0]) else self.x_test

    def test_slice(self, n: int) -> Dataset:
        """The first ``n`` test samples only (for a trace or a quick look)."""
        from dataclasses import replace

        def cut(y: Any) -> Any:
            return [a[:n] for a in y] if isinstance(y, list) else (None if y is None else y[:n])

        extras = {k: v[:n] if k.endswith("_test") else v for k, v in self.extras.items()}
        return replace(self, x_test=[a[:n] for a in self.x_test], y_test=cut(self.y_test), extras=extras)


def evaluation_only(x: list[np.ndarray], y: Any, task: str, class_names: tuple[str, ...] = ()) -> Dataset:
    """Samples to evaluate an existing model on (nothing to train on)."""
    empty = [a[:0] for a in x]
    return Dataset(empty, None, empty, None, x, y, task, class_names)
