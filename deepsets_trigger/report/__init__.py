"""Study reports: ``DIR/plots/*.png|pdf`` and ``DIR/report.md`` from the results store.

Each plot is a function of the results table returning a Matplotlib figure (or ``None``
with the reason it cannot be drawn), so tests read the plotted data back. Resource numbers
always show their source (``analytic``, ``yosys``, ``vivado``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import write_text_atomic
from deepsets_trigger.report.roc import plot_roc, roc_curve  # noqa: F401  (public: ROC points of any scores)
from deepsets_trigger.study import load_results

RESOURCES = ("lut", "ff", "dsp", "bram")
MODE_STYLE = {"ptq": ("tab:blue", "o"), "float": ("tab:gray", "s"), "qat": ("tab:red", "^")}


def _ok(df: Any) -> Any:
    return df[df["status"] == "ok"].copy()


def _sources(df: Any) -> str:
    found = sorted({s for s in df["resource_source"].dropna().astype(str) if s})
    return ", ".join(found) if found else "none"


def plot_accuracy_vs_bits(df: Any) -> Any:
    """Firmware (solid) and Keras (dashed) accuracy vs weight bits; PTQ and QAT on one plot."""
    import matplotlib.pyplot as plt

    ok = _ok(df)
    if ok.empty or ok["firmware_accuracy"].isna().all():
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (mode, width), group in ok.groupby(["mode", "width"], dropna=False):
        group = group.sort_values("weight_bits")
        color, marker = MODE_STYLE.get(mode, ("black", "x"))
        alpha = 0.4 + 0.6 * (width / ok["width"].max()) if np.isfinite(width) else 1.0
        label = f"{mode} φ={int(width) if np.isfinite(width) else '?'}"
        ax.plot(
            group["weight_bits"],
            group["firmware_accuracy"],
            marker=marker,
            color=color,
            alpha=alpha,
            label=f"{label} firmware",
            gid=f"firmware|{mode}|{width}",
        )
        ax.plot(
            group["weight_bits"],
            group["keras_accuracy"],
            ls="--",
            color=color,
            alpha=alpha * 0.7,
            label=f"{label} Keras",
            gid=f"keras|{mode}|{width}",
        )
    ax.set_xlabel("weight bits")
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy vs bit width (solid: firmware emulation, dashed: Keras)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return fig


def plot_ratio_heatmap(df: Any) -> Any:
    """Firmware/Keras accuracy ratio over (φ width × bits), one panel per mode."""
    import matplotlib.pyplot as plt

    ok = _ok(df).dropna(subset=["accuracy_ratio", "width", "weight_bits"])
    if ok.empty:
        return None
    modes = sorted(ok["mode"].unique())
    fig, axes = plt.subplots(1, len(modes), figsize=(4.5 * len(modes), 3.8), squeeze=False)
    for ax, mode in zip(axes[0], modes, strict=True):
        table = ok[ok["mode"] == mode].pivot_table(index="width", columns="weight_bits", values="accuracy_ratio")
        image = ax.imshow(
            table.values, cmap="viridis", vmin=0, vmax=max(1.0, np.nanmax(table.values)), aspect="auto", origin="lower"
        )
        image.set_gid(f"ratio|{mode}")
        ax.set_xticks(range(len(table.columns)), [str(int(c)) for c in table.columns])
        ax.set_yticks(range(len(table.index)), [str(int(i)) for i in table.index])
        for (i, j), value in np.ndenumerate(table.values):
            if np.isfinite(value):
                ax.text(
                    j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="white" if value < 0.7 else "k"
                )
        ax.set_xlabel("weight bits")
        ax.set_ylabel("φ width")
        ax.set_title(f"{mode}: firmware / Keras accuracy")
        fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig


def _have_resources(df: Any) -> bool:
    ok = _ok(df)
    return not ok.empty and not ok[list(RESOURCES)].isna().all().all()


def plot_resources_vs_bits(df: Any) -> Any:
    """LUT, FF, DSP, BRAM vs bits per strategy (Latency, Resource, distributed_arithmetic) and reuse factor."""
    import matplotlib.pyplot as plt

    if not _have_resources(df):
        return None
    ok = _ok(df)
    fig, axes = plt.subplots(1, len(RESOURCES), figsize=(16, 3.8))
    for ax, column in zip(axes, RESOURCES, strict=True):
        for (strategy, rf, mode), group in ok.groupby(["strategy", "reuse_factor", "mode"]):
            source = _sources(group)  # Latency/Resource: analytic; distributed_arithmetic: yosys or da4ml
            group = group.groupby("weight_bits")[column].mean()
            ax.plot(
                group.index,
                group.values,
                marker="o",
                label=f"{mode} {strategy} RF{int(rf)} ({source})",
                gid=f"resources|{column}|{strategy}|{int(rf)}|{mode}|{source}",
            )
        ax.set_xlabel("weight bits")
        ax.set_title(column.upper())
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Resources vs bit width (source: {_sources(df)})")
    fig.tight_layout()
    return fig


def plot_latency_vs_bits(df: Any) -> Any:
    """Latency (cycles) vs bits per strategy and reuse factor."""
    import matplotlib.pyplot as plt

    ok = _ok(df)
    if ok.empty or ok["latency_cycles"].isna().all():
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for (strategy, rf), group in ok.groupby(["strategy", "reuse_factor"]):
        source = _sources(group)
        group = group.groupby("weight_bits")["latency_cycles"].mean()
        ax.plot(
            group.index,
            group.values,
            marker="o",
            label=f"{strategy} RF{int(rf)} ({source})",
            gid=f"latency|{strategy}|{int(rf)}|{source}",
        )
    ax.set_xlabel("weight bits")
    ax.set_ylabel("latency [cycles]")
    ax.set_title(f"Latency vs bit width (source: {_sources(df)})")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def pareto_front(cost: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both lower cost and higher accuracy."""
    order = np.lexsort((-accuracy, cost))
    front, best = [], -np.inf
    for i in order:
        if accuracy[i] > best:
            front.append(i)
            best = accuracy[i]
    return np.asarray(front, dtype=int)


def plot_pareto(df: Any) -> Any:
    """Firmware accuracy vs LUTs (or BOPs), with the Pareto front."""
    import matplotlib.pyplot as plt

    ok = _ok(df).dropna(subset=["firmware_accuracy"])
    cost_column = next((c for c in ("lut", "bops") if not ok[c].isna().all()), None) if not ok.empty else None
    if cost_column is None:
        return None
    ok = ok.dropna(subset=[cost_column])
    cost, acc = ok[cost_column].to_numpy(float), ok["firmware_accuracy"].to_numpy(float)
    fig, ax = plt.subplots(figsize=(6, 4))
    for mode, group in ok.groupby("mode"):
        color, marker = MODE_STYLE.get(mode, ("black", "x"))
        ax.scatter(group[cost_column], group["firmware_accuracy"], color=color, marker=marker, label=mode)
    front = pareto_front(cost, acc)
    ax.plot(cost[front], acc[front], "k-", lw=1, label="Pareto front", gid="pareto")
    ax.set_xscale("log")
    ax.set_xlabel(f"{cost_column.upper()} (source: {_sources(df)})")
    ax.set_ylabel("firmware accuracy")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


PLOTS: dict[str, tuple[Callable[..., Any], str]] = {
    "accuracy_vs_bits": (plot_accuracy_vs_bits, "no finished point with a firmware accuracy"),
    "ratio_heatmap": (plot_ratio_heatmap, "no finished point with an accuracy ratio"),
    "resources_vs_bits": (plot_resources_vs_bits, "no resource numbers in this study yet (resource_source empty)"),
    "latency_vs_bits": (plot_latency_vs_bits, "no latency numbers in this study yet (resource_source empty)"),
    "pareto": (plot_pareto, "no resource or BOPs numbers to put on the cost axis yet"),
}


def make_report(study_dir: str | Path) -> Path:
    """Write ``plots/`` and ``report.md`` for a study directory; return the report path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    study_dir = Path(study_dir)
    df = load_results(study_dir)
    if df.empty:
        raise ToolkitError(f"{study_dir} holds a study with no points yet; run it first.")
    plots = study_dir / "plots"
    plots.mkdir(exist_ok=True)
    made, skipped = [], []
    figures = {name: (fn(df), why) for name, (fn, why) in PLOTS.items()}
    figures["roc"] = (plot_roc(df, study_dir), "no finished point with saved predictions")
    for name, (fig, why) in figures.items():
        if fig is None:
            skipped.append((name, why))
            continue
        for suffix in ("png", "pdf"):
            fig.savefig(plots / f"{name}.{suffix}", dpi=120, bbox_inches="tight")
        plt.close(fig)
        made.append(name)
    write_text_atomic(study_dir / "report.md", _markdown(df, made, skipped))
    return study_dir / "report.md"


def _markdown(df: Any, made: list[str], skipped: list[tuple[str, str]]) -> str:
    ok = _ok(df)
    lines = [
        "# Study report",
        "",
        f"{len(df)} points: {len(ok)} ok, {int((df['status'] == 'failed').sum())} failed, "
        f"{int(df['status'].isin(['queued', 'running']).sum())} not run. Resource source: {_sources(df)}.",
        "",
        "## Points",
        "",
    ]
    columns = [
        "point_id",
        "mode",
        "width",
        "weight_bits",
        "keras_accuracy",
        "firmware_accuracy",
        "accuracy_ratio",
        "logit_agreement",
        "lut",
        "dsp",
        "latency_cycles",
        "resource_source",
        "status",
    ]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for _, row in df.sort_values(["mode", "width", "weight_bits"], na_position="last").iterrows():
        lines.append("| " + " | ".join(_cell(row[c]) for c in columns) + " |")
    failed = df[df["status"] == "failed"]
    if not failed.empty:
        lines += ["", "## Failed points", ""]
        lines += [f"- `{r.point_id}`: {str(r.error).splitlines()[0][:300]}" for r in failed.itertuples()]
    lines += ["", "## Plots", ""]
    for name in made:
        lines += [f"### {name.replace('_', ' ')}", "", f"![{name}](plots/{name}.png)", ""]
    for name, why in skipped:
        lines.append(f"- *{name.replace('_', ' ')}*: not drawn — {why}.")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.0f}"
    text = str(value)
    return text[:8] if len(text) == 16 and all(c in "0123456789abcdef" for c in text) else text
