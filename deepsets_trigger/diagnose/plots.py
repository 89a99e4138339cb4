"""Diagnosis plots: Keras values per layer against the firmware type's range, and per-layer error."""

from __future__ import annotations

from typing import Any

import numpy as np

from deepsets_trigger.diagnose.layers import LayerReport
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.precision import parse_precision

CAUSE_COLOR = {
    None: "tab:gray",
    "precision": "tab:orange",
    "wrap": "tab:red",
    "saturate": "tab:purple",
    "accumulator": "tab:brown",
    "softmax table": "tab:pink",
    "rounding": "tab:olive",
    "quantizer type": "tab:cyan",
    "weights": "black",
}


def plot_ranges(reports: list[LayerReport]) -> Any:
    """Boxplots of |Keras values| per layer (log scale) with the type's largest value and LSB.

    Like hls4ml's numerical profiling, for every traced layer: a box right of its red bar
    overflows, one left of its blue tick is lost below the LSB.
    """
    import matplotlib.pyplot as plt

    rows = [r for r in reports if r.keras_values is not None]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
    data = [np.abs(r.keras_values.ravel())[np.abs(r.keras_values.ravel()) > 0] for r in rows]
    data = [d if d.size else np.array([1e-12]) for d in data]
    positions = np.arange(len(rows))[::-1]
    ax.boxplot(data, positions=positions, vert=False, widths=0.6, showfliers=True, flierprops={"markersize": 2})
    for pos, r in zip(positions, rows, strict=True):
        if r.type_max is not None:
            ax.plot([r.type_max, r.type_max], [pos - 0.4, pos + 0.4], color="tab:red", lw=2, gid=f"max|{r.hls_layer}")
            lsb = 2.0 ** -(_fractional(r.firmware_type) or 0)
            ax.plot([lsb, lsb], [pos - 0.4, pos + 0.4], color="tab:blue", lw=2, gid=f"lsb|{r.hls_layer}")
    ax.set_yticks(positions, [f"{r.hls_layer} ({r.firmware_type})" for r in rows], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("|Keras value| (red: type's largest value, blue: its LSB)")
    ax.set_title("Keras values against the firmware types")
    return fig


def _fractional(type_text: str | None) -> int | None:

    try:
        return parse_precision(type_text or "").fractional
    except ToolkitError:
        return None


def plot_errors(reports: list[LayerReport]) -> Any:
    """Bar chart of max and mean |Δ| per layer, coloured by the cause found there."""
    import matplotlib.pyplot as plt

    rows = [r for r in reports if r.max_abs_diff is not None]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(rows) + 2), 4))
    idx = np.arange(len(rows))
    floor = 1e-8  # exact layers drawn at the floor of the log axis
    ax.bar(
        idx - 0.2,
        [max(r.max_abs_diff, floor) for r in rows],
        0.4,
        label="max |Δ|",
        color=[CAUSE_COLOR.get(r.cause, "tab:gray") for r in rows],
        gid="max_abs_diff",
    )
    ax.bar(
        idx + 0.2,
        [max(r.mean_abs_diff or 0, floor) for r in rows],
        0.4,
        label="mean |Δ|",
        color="lightgray",
        gid="mean_abs_diff",
    )
    for i, r in enumerate(rows):
        if r.cause:
            ax.annotate(r.cause, (i - 0.2, max(r.max_abs_diff, floor)), fontsize=7, rotation=90, va="bottom")
    ax.set_xticks(idx, [r.hls_layer for r in rows], rotation=45, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("firmware − Keras")
    ax.set_title("Per-layer error (bar colour: cause)")
    ax.legend(fontsize=8)
    return fig
