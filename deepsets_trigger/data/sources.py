"""The built-in data sources: each a ``data`` section (its own keys) and a loader of raw arrays.

A loader maps its section to ``(x (N, C, F), y one-hot (N, K) or targets, class names)``;
splitting and normalisation are shared (:func:`deepsets_trigger.data.load_dataset`). Sources are
registered by :mod:`deepsets_trigger.builtin`; a plugin adds its own the same way.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from deepsets_trigger.config import Config, DataConfig
from deepsets_trigger.data.arrays import load_npy
from deepsets_trigger.data.calo import CaloGenConfig, as_sets, calo_file, read_calo
from deepsets_trigger.data.h5jets import read_jets
from deepsets_trigger.data.pythia_jets import JetGenConfig, jet_file
from deepsets_trigger.data.toy import make_toy
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.registry import DataSource

JET_FEATURES = ["j1_pt", "j1_etarel", "j1_phirel"]


@dataclass(frozen=True)
class NpyData(DataConfig):
    """``.npy`` arrays: X (N, C, F) and y (one-hot (N, K), class indices (N,) or targets)."""

    x: str | None = None
    y: str | None = None
    features: list[int] | None = None  # feature columns to keep (default: all)

    def validated(self, cfg: Config) -> NpyData:
        if not self.x or not self.y:
            raise ToolkitError(
                "data.source npy needs data.x and data.y: paths of .npy files (X: N×C×F, y: one-hot N×K)."
            )
        return super().validated(cfg)


@dataclass(frozen=True)
class ToyData(DataConfig):
    """A small learnable point-cloud source for tests and smoke runs (not physics)."""

    n_samples: int = 6000
    n_classes: int = 5
    task: Literal["classification", "regression"] = "classification"


@dataclass(frozen=True)
class JetFileData(DataConfig):
    """A jet file in the hls4ml format (``jetConstituentList``, ``jets``), e.g. the public Zenodo files."""

    path: str | None = None
    feature_names: list[str] = field(default_factory=lambda: list(JET_FEATURES))
    min_pt: float = 0.0  # keep jets with j_pt ≥ min_pt (GeV)

    def validated(self, cfg: Config) -> JetFileData:
        if not self.path:
            raise ToolkitError(
                "data.source h5 needs data.path: a jet file in the hls4ml format (jetConstituentList, jets)."
            )
        return super().validated(cfg)


@dataclass(frozen=True)
class PythiaData(DataConfig):
    """Pythia8 + FastJet jets, generated once per setting and cached in ``cache_dir``."""

    feature_names: list[str] = field(default_factory=lambda: list(JET_FEATURES))
    min_pt: float = 0.0
    n_jets: int = 10000  # balanced over the five classes
    pt_min: float = 900.0  # pT-hat window (GeV)
    pt_max: float = 1100.0
    gen_workers: int = 2  # generator processes (part of the file's identity)


@dataclass(frozen=True)
class CaloData(DataConfig):
    """Calorimeter clusters: ``path``, or simulated (``n_events``, ``particles``, ``pileup``) and cached."""

    path: str | None = None
    n_events: int = 10000  # balanced over particles
    particles: list[str] = field(default_factory=lambda: ["pi0", "pi+"])  # classes (first: GarNet's signal)
    pileup: float = 0.0  # mean number of soft pile-up particles
    task: Literal["classification", "regression"] = "classification"


def load_h5(cfg: JetFileData) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:

    return read_jets(cfg.path, cfg.n_constituents, cfg.feature_names, cfg.min_pt)


def load_pythia(cfg: PythiaData) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:

    gen = JetGenConfig(cfg.n_jets, cfg.seed, cfg.gen_workers, cfg.pt_min, cfg.pt_max, max(cfg.n_constituents, 32))
    gen.validate()
    path = jet_file(gen, cfg.cache_dir, progress=sys.stderr.isatty())
    return read_jets(path, cfg.n_constituents, cfg.feature_names, cfg.min_pt)


def load_calo(cfg: CaloData) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The most energetic hits; ``task: classification`` separates ``particles``, ``regression`` E_true/100 GeV."""

    return as_sets(calo_clusters(cfg), cfg.n_constituents, cfg.task, tuple(cfg.particles))


def calo_clusters(cfg: CaloData) -> dict[str, np.ndarray]:
    """The clusters of ``data.path``, or simulated from ``n_events/particles/pileup/seed`` and cached."""

    if cfg.path:
        return read_calo(cfg.path)
    gen = CaloGenConfig(cfg.n_events, tuple(cfg.particles), pileup=cfg.pileup, seed=cfg.seed)
    gen.validate()
    return read_calo(calo_file(gen, cfg.cache_dir, progress=sys.stderr.isatty()))


def builtin_sources() -> list[Any]:
    """The ``DataSource`` entries of the built-in sources."""

    return [
        DataSource("npy", NpyData, load_npy),
        DataSource("toy", ToyData, make_toy),
        DataSource("h5", JetFileData, load_h5),
        DataSource("pythia", PythiaData, load_pythia),
        DataSource("calo", CaloData, load_calo),
    ]
