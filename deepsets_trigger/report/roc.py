"""ROC curves of Keras and firmware on the same samples, as physicists draw them.

Keras solid, firmware dashed, one colour per class, the AUC of each in the legend. Works for
one-hot classifiers (one curve per class, one-vs-rest), binary classifiers (GarNet's e/π head)
and edge classifiers (the interaction network: padding slots, labelled ``-1``, are left out).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.evaluate import roc_auc


def roc_curve(y_true: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) at every score threshold."""
    order = np.argsort(-score, kind="mergesort")
    y = np.asarray(y_true, dtype=bool)[order]
    tps, fps = np.cumsum(y), np.cumsum(~y)
    return np.r_[0.0, fps / max(fps[-1], 1)], np.r_[0.0, tps / max(tps[-1], 1)]


def roc_sets(
    y: np.ndarray, keras: np.ndarray, firmware: np.ndarray, class_names: tuple[str, ...] = ()
) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """The (name, truth, Keras score, firmware score) sets a ROC plot draws; empty for regression.

    One-hot ``y`` of the outputs' shape gives one set per class; otherwise ``y`` is taken as binary
    labels of the flattened outputs, with ``-1`` marking slots to leave out (padding).
    """
    y, keras, firmware = np.asarray(y), np.asarray(keras), np.asarray(firmware)
    if y.ndim == 2 and y.shape == keras.shape and y.shape[1] > 1:
        names = class_names if len(class_names) == y.shape[1] else tuple(f"class {k}" for k in range(y.shape[1]))
        return [(names[k], y[:, k] > 0.5, keras[:, k], firmware[:, k]) for k in range(y.shape[1])]
    y = y.ravel()
    if keras.size != y.size or not np.all(np.isin(y, (0.0, 1.0, -1.0))):
        return []
    keep = y >= 0
    truth = y[keep] == 1
    if truth.all() or not truth.any():
        return []
    name = class_names[-1] if class_names else "positive"
    return [(name, truth, keras.ravel()[keep], firmware.ravel()[keep])]


def draw_roc(
    ax: Any, y: np.ndarray, keras: np.ndarray, firmware: np.ndarray, class_names: tuple[str, ...] = ()
) -> bool:
    """Draw Keras (solid) and firmware (dashed) ROC curves with their AUCs on ``ax``.

    Args:
        ax: a Matplotlib axes.
        y: one-hot labels (N, C), or binary labels with ``-1`` for slots to leave out.
        keras, firmware: the scores of both on the same samples (the shape of ``y``, or its size).
        class_names: legend names of the classes (one-hot) or of the positive class (binary).

    Returns:
        Whether anything was drawn (nothing for regression targets or a single class).
    """
    sets = roc_sets(y, keras, firmware, class_names)
    for k, (name, truth, k_score, f_score) in enumerate(sets):
        for source, score, style in (("Keras", k_score, "-"), ("firmware", f_score, "--")):
            fpr, tpr = roc_curve(truth, score)
            ax.plot(fpr, tpr, style, color=f"C{k}", label=f"{name} {source} (AUC {roc_auc(truth, score):.3f})")
    if sets:
        ax.plot([0, 1], [0, 1], ":", color="gray", lw=0.8)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(fontsize=7)
    return bool(sets)


def plot_roc(df: Any, study_dir: Path) -> Any:
    """ROC curves of the best point of each mode (PTQ, QAT, …): Keras solid, firmware dashed."""
    import matplotlib.pyplot as plt

    ok = df[df["status"] == "ok"].dropna(subset=["firmware_accuracy"])
    picks = [g.sort_values("firmware_accuracy").iloc[-1] for _, g in ok.groupby("mode")]
    loaded = []
    for pick in picks:
        path = study_dir / "points" / pick["point_id"] / "predictions.npz"
        data = dict(np.load(path)) if path.is_file() else {}
        names = tuple(str(n) for n in data["class_names"]) if "class_names" in data else ()
        if "y" in data and roc_sets(data["y"], data["keras"], data["firmware"], names):
            loaded.append((pick, data, names))
    if not loaded:
        return None
    fig, axes = plt.subplots(1, len(loaded), figsize=(5 * len(loaded), 4), squeeze=False)
    for ax, (pick, data, names) in zip(axes[0], loaded, strict=True):
        draw_roc(ax, data["y"], data["keras"], data["firmware"], names)
        bits, width = _number(pick.get("weight_bits")), _number(pick.get("width"))
        bits = f"{bits:.0f} bits" if bits is not None else "float"
        width = f", φ={width:.0f}" if width is not None else ""
        ax.set_title(f"best {pick['mode']}: {bits}{width} ({pick['point_id'][:8]})", fontsize=9)
    fig.tight_layout()
    return fig


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None
