"""Pythia 8 collisions for the track generator: settings, a cached initialisation, charged particles.

The triggering interaction is an optional hard process (:data:`HARD_PROCESSES`: ``ttbar``,
``dijet``), else one minimum-bias collision (:data:`MINBIAS`, ``SoftQCD:inelastic``), as are the
pile-up collisions; :mod:`gnn_keras.tracking.generate` assembles them into events.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

MINBIAS = ("SoftQCD:inelastic = on",)
HARD_PROCESSES: dict[str, tuple[str, ...]] = {
    "ttbar": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on"),
    "dijet": ("HardQCD:all = on", "PhaseSpace:pTHatMin = 20."),
}
DEFAULT_CACHE = "~/.cache/deepsets-trigger"


def pythia_settings(process: tuple[str, ...], seed: int, ecm: float) -> list[str]:
    """Every Pythia setting of one generator (shared by the workers and the benchmark)."""
    return [
        f"Beams:eCM = {ecm}",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        "Next:numberCount = 0",
        "Print:quiet = on",
        *process,
    ]


def make_pythia(process: tuple[str, ...], seed: int, ecm: float, extra: tuple[str, ...] = ()) -> Any:
    """An initialised ``pythia8mc.Pythia`` of ``process`` (plus ``extra`` settings); a rejected setting is a bug."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for setting in [*pythia_settings(process, seed, ecm), *extra]:
        if not pythia.readString(setting):
            raise RuntimeError(f"Pythia rejected the setting {setting!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise with {process}")
    return pythia


def mpi_init_file(ecm: float, cache_dir: str | Path = DEFAULT_CACHE) -> Path:
    """Pythia's multiparton-interaction initialisation for minimum bias, computed once and cached.

    ``SoftQCD:inelastic`` spends ~6 s integrating MPI cross sections at every start; read from
    this file it takes 0.2 s. The integration draws random numbers, so a generator that computes
    it and one that reads it produce different events: every minimum-bias generator here reads
    it (the file is made with a fixed seed), which keeps a seed's events the same whether or not
    the cache existed.
    """
    import pythia8mc

    from deepsets_trigger.config import stable_hash

    key = stable_hash({"process": MINBIAS, "ecm": ecm, "pythia": getattr(pythia8mc, "__version__", "8.3")})
    path = Path(cache_dir).expanduser() / f"pythia-mpi-{key}.dat"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            make_pythia(
                MINBIAS, 1, ecm, ("MultipartonInteractions:reuseInit = 1", f"MultipartonInteractions:initFile = {tmp}")
            )
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return path


def reuse_mpi_init(init_file: Path) -> tuple[str, ...]:
    """The settings that make a generator read its MPI initialisation from ``init_file`` (:func:`mpi_init_file`)."""
    return ("MultipartonInteractions:reuseInit = 2", f"MultipartonInteractions:initFile = {init_file}")


def charged_particles(pythia: Any, pt_min: float, eta_max: float) -> dict[str, np.ndarray]:
    """Charged final-state particles of the next Pythia event above ``pt_min`` within |η| ≤ ``eta_max``."""
    while not pythia.next():
        pass
    rows = [
        (p.index(), p.px(), p.py(), p.pz(), p.charge(), p.xProd(), p.yProd(), p.zProd())
        for p in pythia.event
        if p.isFinal() and p.isCharged() and p.pT() >= pt_min and abs(p.eta()) <= eta_max
    ]
    table = np.array(rows, dtype=np.float64).reshape(-1, 8)
    return {
        "index": table[:, 0].astype(np.int64),
        "p": table[:, 1:4],
        "q": table[:, 4],
        "v": table[:, 5:8],
    }


__all__ = [
    "DEFAULT_CACHE",
    "HARD_PROCESSES",
    "MINBIAS",
    "charged_particles",
    "make_pythia",
    "mpi_init_file",
    "pythia_settings",
    "reuse_mpi_init",
]
