"""Validation plots of generated (or public) data files: ``deepsets-trigger data plot``.

Jets: plain jet mass, constituent multiplicity and constituent pT_rel per class. Calorimeter:
shower depth (energy-weighted mean z), hits per cluster and E_sum / E_true per particle type.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepsets_trigger.data.calo import read_calo
from deepsets_trigger.data.h5jets import _names, open_jet_file
from deepsets_trigger.data.jet_features import JET_CLASSES
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import check_writable_parent

PDG_NAMES = {11: "e", 211: "π±", 111: "π0", 22: "γ"}


def _figure(title: str, xlabel: str):  # noqa: ANN202 - matplotlib objects
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3)
    return fig, ax


def _save(fig, path: Path) -> Path:  # noqa: ANN001
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_jets(path: Path, out: Path) -> list[Path]:

    with open_jet_file(path) as f:
        jets = f["jets"][()]
        jet_names = _names(f["jetFeatureNames"])
        particle_names = _names(f["particleFeatureNames"])
        ptrel = f["jetConstituentList"][:, :, particle_names.index("j1_ptrel")]
    labels = jets[:, -6:-1].argmax(axis=1)
    made = []
    specs = [
        (
            "jet_mass",
            "plain jet mass [GeV]",
            jets[:, jet_names.index("j_mass")] if "j_mass" in jet_names else None,
            (0, 300),
        ),
        (
            "multiplicity",
            "constituents per jet",
            jets[:, jet_names.index("j_multiplicity")] if "j_multiplicity" in jet_names else (ptrel > 0).sum(axis=1),
            (0, 150),
        ),
    ]
    for name, xlabel, values, bins_range in specs:
        if values is None:
            continue
        fig, ax = _figure(f"{name.replace('_', ' ')} per class", xlabel)
        for k, cls in enumerate(JET_CLASSES):
            ax.hist(values[labels == k], bins=60, range=bins_range, histtype="step", density=True, label=cls)
        ax.legend()
        made.append(_save(fig, out / f"{name}.png"))
    fig, ax = _figure("constituent pT_rel per class", "pT / pT(jet)")
    for k, cls in enumerate(JET_CLASSES):
        values = ptrel[labels == k]
        ax.hist(values[values > 0], bins=np.logspace(-4, 0, 60), histtype="step", density=True, label=cls)
    ax.set_xscale("log")
    ax.legend()
    made.append(_save(fig, out / "ptrel.png"))
    return made


def plot_calo(path: Path, out: Path) -> list[Path]:

    data = read_calo(path)
    energy = data["cluster"][..., 3]
    e_sum = energy.sum(axis=1)
    depth = (data["cluster"][..., 2] * energy).sum(axis=1) / np.where(e_sum > 0, e_sum, 1)
    quantities = {
        "shower_depth": ("energy-weighted mean depth z [cm]", depth, (0, 80)),
        "hits_per_cluster": ("hits per cluster", data["size"], (0, 130)),
        "response": ("E_sum / E_true", e_sum / data["truth_energy"], (0, 1.5)),
    }
    made = []
    for name, (xlabel, values, bins_range) in quantities.items():
        fig, ax = _figure(f"{name.replace('_', ' ')} per particle", xlabel)
        for pid in np.unique(data["truth_pid"]):
            sel = data["truth_pid"] == pid
            ax.hist(
                values[sel],
                bins=60,
                range=bins_range,
                histtype="step",
                density=True,
                label=PDG_NAMES.get(int(pid), pid),
            )
        ax.legend()
        made.append(_save(fig, out / f"{name}.png"))
    return made


def plot_data_file(path: str | Path, out: str | Path) -> list[Path]:
    """Write the validation PNGs of a jet or calorimeter file into ``out``; return their paths."""
    import h5py

    path, out = Path(path), Path(out)
    if path.is_dir():
        raise ToolkitError(f"data plot: {str(path)!r} is a directory; pass a jet or calorimeter .h5 file.")
    if not path.is_file():
        raise ToolkitError(f"data plot: {str(path)!r} does not exist.")
    if out.exists() and not out.is_dir():
        raise ToolkitError(f"--out {str(out)!r} is a file; give a directory for the plots.")
    try:
        with h5py.File(path, "r") as f:
            keys = set(f.keys())
    except OSError as exc:
        raise ToolkitError(f"{str(path)!r} is not a readable HDF5 file (truncated or corrupt?): {exc}") from None
    if "jetConstituentList" in keys:
        plot = plot_jets
    elif "cluster" in keys:
        plot = plot_calo
    else:
        raise ToolkitError(
            f"{str(path)!r} is neither a jet file (jetConstituentList, jets) nor a calorimeter file (cluster, size, …)."
        )
    check_writable_parent(out)
    out.mkdir(exist_ok=True)  # only now: bad input leaves no directory behind
    return plot(path, out)
