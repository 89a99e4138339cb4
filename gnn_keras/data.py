"""Calorimeter clusters as GarNet inputs: scaled hits, hit counts, labels and energy targets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deepsets_trigger.data.calo import PARTICLES

# x, y (cm), z (cm), E (GeV) → O(1) values inside the paper's ap_fixed<14,5> hit type (±16)
HIT_SCALE = np.array([10.0, 10.0, 100.0, 10.0], dtype=np.float32)


def garnet_inputs(clusters: dict[str, np.ndarray], signal: str = "e") -> tuple[list[np.ndarray], dict[str, Any]]:
    """``([hits, n_hits], {classification: is-signal, regression: E_true / 100 GeV, pid})``."""
    hits = (clusters["cluster"] / HIT_SCALE).astype(np.float32)
    n_hits = clusters["size"].reshape(-1, 1).astype(np.float32)
    pid = np.asarray(clusters["truth_pid"])
    targets = {
        "classification": (np.abs(pid) == PARTICLES[signal]).astype(np.float32),
        "regression": (clusters["truth_energy"] / 100.0).astype(np.float32),
        "energy": np.asarray(clusters["truth_energy"], dtype=np.float64),
    }
    return [hits, n_hits], targets


@dataclass
class GraphDataset:
    """Train / validation / test splits of ``[hits, n_hits]`` with one target per head.

    ``y_*`` is one array for a single head, or ``[is_signal, E / 100 GeV]`` for ``head: both``;
    ``energy_test`` keeps the true energies (GeV) for resolutions. Hits are scaled by
    :data:`HIT_SCALE`, a fixed scale (nothing fitted, so the firmware sees the same numbers).
    """

    x_train: list[np.ndarray]
    y_train: Any
    x_val: list[np.ndarray]
    y_val: Any
    x_test: list[np.ndarray]
    y_test: Any
    task: str
    energy_test: np.ndarray
    class_names: tuple[str, ...] = ()
    heads: tuple[str, ...] = ()
    normalisation: dict[str, Any] = field(default_factory=dict)

    @property
    def n_outputs(self) -> int:
        return len(self.heads)

    @property
    def losses(self) -> list[str]:
        return ["binary_crossentropy" if h == "classification" else "mse" for h in self.heads]


def load_graph_dataset(data_cfg: Any, head: str) -> GraphDataset:
    """Calorimeter clusters (``data.path`` or simulated and cached) as GarNet inputs, split like DeepSets data."""
    from deepsets_trigger.data import calo_clusters, split_indices

    signal = data_cfg.particles[0]
    x, targets = garnet_inputs(calo_clusters(data_cfg), signal=signal)
    heads = ("classification", "regression") if head == "both" else (head,)
    y = [targets[h] for h in heads]
    train, val, test = split_indices(len(x[0]), data_cfg.test_fraction, data_cfg.val_fraction, data_cfg.seed)

    def take(idx: np.ndarray) -> tuple[list[np.ndarray], Any]:
        ys = [t[idx] for t in y]
        return [a[idx] for a in x], ys if len(ys) > 1 else ys[0]

    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = take(train), take(val), take(test)
    names = (signal, "other") if "classification" in heads else ()
    return GraphDataset(
        x_tr,
        y_tr,
        x_va,
        y_va,
        x_te,
        y_te,
        head,
        targets["energy"][test],
        names,
        heads,
        {"hit_scale": HIT_SCALE.tolist()},
    )
