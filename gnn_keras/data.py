"""Calorimeter clusters as GarNet inputs: scaled hits, hit counts, labels and energy targets."""

from __future__ import annotations

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
