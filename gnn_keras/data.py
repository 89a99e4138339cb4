"""Calorimeter clusters as GarNet inputs: scaled hits, hit counts, labels and energy targets."""

from __future__ import annotations

from typing import Any

import numpy as np

from deepsets_trigger.data import Dataset, split_indices
from deepsets_trigger.data.calo import PARTICLES
from deepsets_trigger.data.sources import calo_clusters

# x, y (cm), z (cm), E (GeV) → O(1) values inside the paper's ap_fixed<14,5> hit type (±16)
HIT_SCALE = np.array([10.0, 10.0, 100.0, 10.0], dtype=np.float32)
HEADS = ("classification", "regression")


def garnet_inputs(clusters: dict[str, np.ndarray], signal: str = "e") -> tuple[list[np.ndarray], dict[str, Any]]:
    """``([hits, n_hits], {classification: is-signal, regression: E_true / 100 GeV, energy})``."""
    hits = (clusters["cluster"] / HIT_SCALE).astype(np.float32)
    n_hits = clusters["size"].reshape(-1, 1).astype(np.float32)
    pid = np.asarray(clusters["truth_pid"])
    targets = {
        "classification": (np.abs(pid) == PARTICLES[signal]).astype(np.float32),
        "regression": (clusters["truth_energy"] / 100.0).astype(np.float32),
        "energy": np.asarray(clusters["truth_energy"], dtype=np.float64),
    }
    return [hits, n_hits], targets


def load_graph_dataset(cfg: Any) -> Dataset:
    """Clusters (``data.path`` or simulated and cached) as ``[hits, n_hits]``, one target per head.

    ``y_*`` is one array for a single head or ``[is_signal, E / 100 GeV]`` for ``head: both``;
    ``extras['energy_test']`` keeps the true energies (GeV) for resolutions. Hits are scaled by
    :data:`HIT_SCALE`, a fixed scale (nothing fitted, so the firmware sees the same numbers).
    """
    data_cfg, head = cfg.data, cfg.model.head
    signal = data_cfg.particles[0]
    x, targets = garnet_inputs(calo_clusters(data_cfg), signal=signal)
    heads = HEADS if head == "both" else (head,)
    y = [targets[h] for h in heads]
    train, val, test = split_indices(len(x[0]), data_cfg.test_fraction, data_cfg.val_fraction, data_cfg.seed)

    def take(idx: np.ndarray) -> tuple[list[np.ndarray], Any]:
        ys = [t[idx] for t in y]
        return [a[idx] for a in x], ys if len(ys) > 1 else ys[0]

    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = take(train), take(val), take(test)
    return Dataset(
        x_tr,
        y_tr,
        x_va,
        y_va,
        x_te,
        y_te,
        task=head,
        class_names=(signal, "other") if "classification" in heads else (),
        heads=heads,
        losses=tuple("binary_crossentropy" if h == "classification" else "mse" for h in heads),
        extras={"energy_test": targets["energy"][test]},
        normalisation={"hit_scale": HIT_SCALE.tolist()},
    )
