"""Plots of a graph scan directory: k × ε recall/precision maps, efficiency vs purity, sizes, degrees."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from gnn_keras.tracking.scan import read_rows

PARAMETER = {"knn": "k", "epsilon": "epsilon", "pattern": "window", "module_map": "min_count"}
AXIS_LABEL = {
    "k": "k",
    "epsilon": "ε [mm]  (η-φ space: Δ(η, φ) × 1000)",
    "window": "window scale (× default Δφ/Δr, z0)",
    "min_count": "module pair seen ≥ n times",
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:  # the HEP look when mplhep is installed; plain matplotlib otherwise
        import mplhep

        plt.style.use(mplhep.style.ROOT)
    except ImportError:
        plt.style.use("default")
    return plt


def _num(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None


def _save(plt: Any, fig: Any, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        plt.close(fig)
    return path


def _by_builder(rows: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        out.setdefault(row["builder"], []).append(row)
    for builder, group in out.items():
        group.sort(key=lambda r: _num(r[PARAMETER[builder]]) or 0.0)
    return out


SPACE_LABEL = {"etaphi": "mm: Δ(η, φ) × 1000", "xyz": "mm, x-y-z", "rphiz": "mm, scaled r-φ-z"}


def heatmaps(similarity: list[dict[str, str]], graphs: list[dict[str, str]], out: Path, plt: Any) -> list[Path]:
    """Recall and precision of ε-NN against k-NN on a k × ε grid (one figure, two panels)."""
    rows = [r for r in similarity if r["builder"] == "epsilon" and r["recall"] != ""]
    if not rows:
        return []
    spaces = {r["space"] for r in graphs if r["builder"] == "epsilon"}
    unit = SPACE_LABEL.get(spaces.pop(), "mm") if len(spaces) == 1 else "mm"
    ks = sorted({int(float(r["k"])) for r in rows})
    eps = sorted({float(r["epsilon"]) for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(4 + 1.1 * len(eps) * 2, 1.5 + 0.7 * len(ks)), squeeze=False)
    for ax, what in zip(axes[0], ("recall", "precision"), strict=True):
        grid = np.full((len(ks), len(eps)), np.nan)
        for r in rows:
            grid[ks.index(int(float(r["k"]))), eps.index(float(r["epsilon"]))] = _num(r[what]) or 0.0
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", origin="lower", aspect="auto")
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="w" if value < 0.6 else "k", fontsize=9)
        ax.set_xticks(range(len(eps)), [f"{e:g}" for e in eps])
        ax.set_yticks(range(len(ks)), [str(k) for k in ks])
        ax.set_xlabel(f"ε-NN radius ε [{unit}]")
        ax.set_ylabel("k of the k-NN graph")
        ax.set_title(f"{what} |E_k ∩ E_ε| / |E_{'k' if what == 'recall' else 'ε'}|", fontsize=11)
        fig.colorbar(image, ax=ax, fraction=0.046)
    return [_save(plt, fig, out / "recall_precision_k_eps.png")]


def efficiency_purity(rows: list[dict[str, str]], out: Path, plt: Any) -> list[Path]:
    """Edge efficiency against purity, one line per builder through its parameter values."""
    fig, ax = plt.subplots(figsize=(6.5, 5))
    for builder, group in _by_builder(rows).items():
        pts = [(_num(r["edge_purity"]), _num(r["edge_efficiency"]), r[PARAMETER[builder]]) for r in group]
        pts = [p for p in pts if p[0] is not None and p[1] is not None]
        if not pts:
            continue
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{builder} ({PARAMETER[builder]})")
        for x, y, label in pts:
            ax.annotate(f"{float(label):g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("edge purity")
    ax.set_ylabel("edge efficiency")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    return [_save(plt, fig, out / "efficiency_vs_purity.png")]


def edges_per_event(rows: list[dict[str, str]], out: Path, plt: Any) -> list[Path]:
    """Edges per event against each builder's parameter (one panel per builder)."""
    groups = _by_builder(rows)
    fig, axes = plt.subplots(1, len(groups), figsize=(4.6 * len(groups), 3.8), squeeze=False)
    for ax, (builder, group) in zip(axes[0], groups.items(), strict=True):
        x = [_num(r[PARAMETER[builder]]) for r in group]
        ax.plot(x, [_num(r["edges_per_event"]) for r in group], "o-", label="edges")
        ax.plot(x, [_num(r["true_edges_per_event"]) for r in group], "k--", lw=1, label="true edges")
        ax.set_yscale("log")
        ax.set_xlabel(AXIS_LABEL[PARAMETER[builder]], fontsize=10)
        ax.set_title(builder, fontsize=11)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("per event")
    axes[0][0].legend(fontsize=9)
    fig.tight_layout()
    return [_save(plt, fig, out / "edges_per_event.png")]


def degree_histograms(rows: list[dict[str, str]], degrees: dict[str, Any], out: Path, plt: Any) -> list[Path]:
    """In- and out-degree distributions of each builder at its middle parameter value."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), squeeze=False)
    for group in _by_builder(rows).values():
        row = group[len(group) // 2]
        record = degrees.get(row["row_id"])
        if record is None:
            continue
        for ax, key in zip(axes[0], ("in", "out"), strict=True):
            hist = np.asarray(record[key], dtype=float)
            if hist.sum() == 0:
                continue
            ax.step(np.arange(len(hist)), hist / hist.sum(), where="mid", label=record["label"])
    for ax, key in zip(axes[0], ("in", "out"), strict=True):
        ax.set_yscale("log")
        ax.set_xlabel(f"{key}-degree (edges {'arriving at' if key == 'in' else 'leaving'} a hit)", fontsize=10)
        ax.set_ylabel("fraction of hits")
        ax.grid(alpha=0.3)
    axes[0][1].legend(fontsize=8)
    return [_save(plt, fig, out / "degree_histograms.png")]


def plot_scan(scan_dir: str | Path) -> list[Path]:
    """Every plot of a scan directory into ``SCAN_DIR/plots/``; returns the files written."""
    scan_dir = Path(scan_dir)
    rows = read_rows(scan_dir / "graphs.csv")
    if not rows:
        return []
    similarity = read_rows(scan_dir / "similarity.csv")
    degrees_path = scan_dir / "degrees.json"
    degrees = json.loads(degrees_path.read_text()) if degrees_path.is_file() else {}
    out = scan_dir / "plots"
    out.mkdir(exist_ok=True)
    plt = _pyplot()
    made = heatmaps(similarity, rows, out, plt)
    made += efficiency_purity(rows, out, plt)
    made += edges_per_event(rows, out, plt)
    made += degree_histograms(rows, degrees, out, plt)
    return made
