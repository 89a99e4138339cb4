"""Edge-level comparison of Keras and firmware: AUC, efficiency and purity at a threshold, agreement.

Only real edges count (the mask); a decision is ``score > threshold``, taken on the logits
(``logit > log(t / (1 − t))``) so that a firmware sigmoid table cannot move it (on the scores
when the logits are not exposed, ``hls.expose_logits: false``). Edge efficiency is
the fraction of the graphs' true edges that are kept, purity the fraction of kept edges that are
true (the classifier's; with ``n_true`` the graph builder's misses count too, as
``overall_efficiency``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deepsets_trigger.evaluate import roc_auc


def logit_threshold(threshold: float) -> float:
    """The logit whose sigmoid is ``threshold`` (0 < threshold < 1)."""
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    return math.log(threshold / (1 - threshold))


def efficiency_purity(truth: np.ndarray, kept: np.ndarray) -> tuple[float | None, float | None]:
    """(true kept / true, true kept / kept) over flat boolean arrays; None where a denominator is 0."""
    truth, kept = np.asarray(truth, bool), np.asarray(kept, bool)
    hits = int(np.sum(truth & kept))
    n_true, n_kept = int(truth.sum()), int(kept.sum())
    return (hits / n_true if n_true else None), (hits / n_kept if n_kept else None)


def edge_metrics(
    labels: np.ndarray,
    mask: np.ndarray,
    keras_out: np.ndarray,
    firmware_out: np.ndarray,
    threshold: float = 0.5,
    n_true: np.ndarray | None = None,
    logits: bool = True,
) -> dict[str, Any]:
    """Keras vs firmware on the real edges.

    Args:
        labels: (G, E) or (G, E, 1) truth (1 true edge; anything else not).
        mask: (G, E) real edges.
        keras_out, firmware_out: logits (``logits``) or scores of the same shape as ``labels``.
        threshold: the working point on the score.
        n_true: optional (G,) true edges per graph including those the graph builder missed.
        logits: the outputs are logits (decisions at ``logit > log(t / (1 − t))``), else scores.

    Returns:
        ``n_edges, edge_threshold, keras_accuracy, firmware_accuracy, accuracy_ratio, auc_keras,
        auc_firmware, efficiency_keras, efficiency_firmware, purity_keras, purity_firmware,
        logit_agreement, max_abs_logit_diff`` (and ``overall_efficiency_keras/_firmware`` with
        ``n_true``). Accuracies are the fractions of real edges classified correctly.
    """
    mask = np.asarray(mask, bool).reshape(len(mask), -1)
    truth = np.asarray(labels).reshape(mask.shape)[mask] == 1
    k = np.asarray(keras_out, np.float64).reshape(mask.shape)[mask]
    f = np.asarray(firmware_out, np.float64).reshape(mask.shape)[mask]
    cut = logit_threshold(threshold) if logits else threshold
    kept_k, kept_f = k > cut, f > cut
    eff_k, pur_k = efficiency_purity(truth, kept_k)
    eff_f, pur_f = efficiency_purity(truth, kept_f)
    acc_k = float(np.mean(kept_k == truth)) if len(k) else None
    acc_f = float(np.mean(kept_f == truth)) if len(k) else None
    out: dict[str, Any] = {
        "n_edges": int(mask.sum()),
        "edge_threshold": float(threshold),
        "keras_accuracy": acc_k,
        "firmware_accuracy": acc_f,
        "accuracy_ratio": acc_f / acc_k if acc_k else None,
        "auc_keras": roc_auc(truth, k),
        "auc_firmware": roc_auc(truth, f),
        "efficiency_keras": eff_k,
        "efficiency_firmware": eff_f,
        "purity_keras": pur_k,
        "purity_firmware": pur_f,
        "logit_agreement": float(np.mean(kept_k == kept_f)) if len(k) else None,
        "max_abs_logit_diff": float(np.max(np.abs(k - f))) if len(k) else None,
    }
    if n_true is not None:
        total = int(np.sum(n_true))
        for side, kept in (("keras", kept_k), ("firmware", kept_f)):
            out[f"overall_efficiency_{side}"] = int(np.sum(truth & kept)) / total if total else None
    return out
