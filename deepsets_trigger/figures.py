"""Plots a physicist puts on a slide: Keras and firmware ROC curves overlaid, weight histograms.

Every function draws into a matplotlib ``Axes`` (a new figure when none is given) and returns
the figure, so a notebook shows it inline and a script saves it. :func:`use_style` applies the
``mplhep`` CMS style when that package is installed (matplotlib's default otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from deepsets_trigger.evaluate import roc_auc
from deepsets_trigger.report.roc import roc_curve, roc_sets

__all__ = ["roc_overlay", "use_style", "weight_histograms"]


def use_style() -> str:
    """Use mplhep's CMS style when mplhep is installed; return the style's name (``default`` without it)."""
    try:
        import mplhep
    except ImportError:
        return "default"
    import matplotlib.pyplot as plt

    plt.style.use(mplhep.style.CMS)
    plt.rcParams.update(
        {"figure.figsize": (7, 5.5), "font.size": 13, "axes.labelsize": 15, "legend.fontsize": 11, "axes.titlesize": 13}
    )
    return "mplhep CMS"


def _axes(ax: Any) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots()
        return fig, ax
    return ax.figure, ax


def roc_overlay(
    y: np.ndarray,
    keras: np.ndarray,
    firmware: np.ndarray,
    class_names: Sequence[str] = (),
    ax: Any = None,
    title: str | None = None,
    colors: Sequence[str] = (),
) -> Any:
    """One-vs-rest ROC curve per class: Keras solid, firmware dashed, both AUCs (Keras / firmware) in the legend.

    Drawn as in the hls4ml tutorials: signal efficiency (x) against background efficiency (log y).

    Args:
        y: labels, one-hot ``(N, C)``, or 0/1 of one score per sample or slot with ``-1`` for padding
            slots to leave out (edge classifiers); see :func:`deepsets_trigger.report.roc.roc_sets`.
        keras: the Keras scores, the shape of ``y``.
        firmware: the firmware scores, the shape of ``y``.
        class_names: a name per class (one-hot), or the positive class's name (binary).
        ax: the axes to draw into (default: a new figure).
        title: the axes title.
        colors: a colour per class (default ``C0``, ``C1``, ...), e.g. to overlay several models.

    Returns:
        The figure.
    """
    sets = roc_sets(y, keras, firmware, tuple(class_names))
    colors = list(colors) or [f"C{k}" for k in range(len(sets))]
    fig, ax = _axes(ax)
    for k, (name, truth, keras_score, firmware_score) in enumerate(sets):
        aucs = []
        for scores, style in ((keras_score, "-"), (firmware_score, "--")):
            fpr, tpr = roc_curve(truth, scores)
            aucs.append(roc_auc(truth, scores))
            ax.plot(tpr, fpr, style, color=colors[k])
        ax.plot([], [], "-", color=colors[k], linewidth=6, label=f"{name}: AUC {aucs[0]:.4f} / {aucs[1]:.4f}")
    if not any(h.get_label().startswith("Keras (AUC") for h in ax.get_lines()):  # once per axes
        ax.plot([], [], "-", color="black", label="Keras (AUC first)")
        ax.plot([], [], "--", color="black", label="firmware (AUC second)")
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 1.05)
    ax.set_xlim(0, 1)
    ax.set_xlabel("signal efficiency")
    ax.set_ylabel("background efficiency")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=10, frameon=True)
    if title:
        ax.set_title(title, fontsize="medium")
    return fig


def weight_histograms(models: dict[str, Any], ax: Any = None, bins: int = 60) -> Any:
    """Histogram of every Dense/Conv kernel weight of each model (one step line per model, log y).

    A pruned model shows its zero spike and the gap around it.

    Args:
        models: ``{label: Keras model}``.
        ax: the axes to draw into (default: a new figure).
        bins: histogram bins, shared by the models.

    Returns:
        The figure.
    """
    kernels = {
        label: np.concatenate([w.numpy().ravel() for w in model.weights if "kernel" in w.name])
        for label, model in models.items()
    }
    edges = np.histogram_bin_edges(np.concatenate(list(kernels.values())), bins=bins)
    fig, ax = _axes(ax)
    for label, values in kernels.items():
        zero = float(np.mean(values == 0))
        ax.hist(values, bins=edges, histtype="step", linewidth=1.8, label=f"{label} ({zero:.0%} exactly 0)")
    ax.set_yscale("log")
    ax.set_xlabel("kernel weight")
    ax.set_ylabel("weights per bin")
    ax.legend(fontsize="small")
    return fig
