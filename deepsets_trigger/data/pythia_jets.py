"""Jets from Pythia 8 + FastJet in the hls4ml LHC jet format (offline, reproducible).

pp at √s = 13 TeV, hard processes with pT̂ in a window around 1 TeV, no multi-parton
interactions (speed; the public dataset's pile-up is not modelled either):

- gluon: ``HardQCD:gg2gg``, ``HardQCD:qqbar2gg``;
- light quark: ``HardQCD:qq2qq``, ``HardQCD:qqbar2qqbarNew`` (u, d, s);
- W → qq: ``WeakBosonAndParton:qqbar2Wg``, ``qg2Wq`` with W decays forced to quarks;
- Z → qq: ``WeakBosonAndParton:qqbar2gmZg``, ``qg2gmZq`` (pure Z) with Z decays forced to quarks;
- t → bqq: ``Top:gg2ttbar``, ``Top:qqbar2ttbar`` with W decays forced to quarks.

Visible final-state particles are clustered with anti-kT, R = 0.8, by FastJet's core (fjcore,
run inside Pythia's ``SlowJet`` so no particle crosses into Python until it is in the kept
jet; :func:`select_jet` is the same selection with the ``fastjet`` package, and a test checks
that both give the same constituents event by event). The jet kept is
the leading one with |η| < 2.4; for W, Z and t it must also lie within ΔR < 0.8 of the
resonance in the hard process, so the label means what it says. Every worker generates a
fixed share of every class with its own seed, so a file is reproducible from its seed and
worker count, and its classes are balanced by construction.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.config import stable_hash
from deepsets_trigger.data.jet_features import (
    JET_CLASSES,
    JET_FEATURES,
    PARTICLE_FEATURES,
    constituent_features_batch,
    jet_record,
    kinematics,
    wrap_phi,
)
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import captured_output

PROCESSES: dict[str, tuple[list[str], int | None]] = {
    # class: (Pythia settings, |PDG id| of the resonance the jet must match)
    "g": (["HardQCD:gg2gg = on", "HardQCD:qqbar2gg = on"], None),
    "q": (["HardQCD:qq2qq = on", "HardQCD:qqbar2qqbarNew = on", "HardQCD:nQuarkNew = 3"], None),
    "W": (
        [
            "WeakBosonAndParton:qqbar2Wg = on",
            "WeakBosonAndParton:qg2Wq = on",
            "24:onMode = off",
            "24:onIfAny = 1 2 3 4",
        ],
        24,
    ),
    "Z": (
        [
            "WeakBosonAndParton:qqbar2gmZg = on",
            "WeakBosonAndParton:qg2gmZq = on",
            "WeakZ0:gmZmode = 2",
            "23:onMode = off",
            "23:onIfAny = 1 2 3 4 5",
        ],
        23,
    ),
    "t": (["Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off", "24:onIfAny = 1 2 3 4"], 6),
}
R = 0.8
ETA_MAX = 2.4
MAX_JETS = 1_000_000  # 10 kB of constituents per jet: one file stays within ~10 GB


@dataclass(frozen=True)
class JetGenConfig:
    """What determines a generated jet file (its cache key)."""

    n_jets: int
    seed: int = 0
    workers: int = 1
    pt_min: float = 900.0
    pt_max: float = 1100.0
    c_max: int = 150
    classes: tuple[str, ...] = JET_CLASSES

    def validate(self) -> None:
        if not 0 < self.n_jets <= MAX_JETS:
            raise ToolkitError(
                f"--n-jets must be between 1 and {MAX_JETS:,} (one file; write several for more), got {self.n_jets}."
            )
        if not all(math.isfinite(v) for v in (self.pt_min, self.pt_max)):
            raise ToolkitError("--pt-min and --pt-max must be finite numbers (GeV).")
        if self.workers <= 0:
            raise ToolkitError(f"--workers must be positive, got {self.workers}.")
        if not 0 < self.pt_min < self.pt_max:
            raise ToolkitError(
                f"--pt-min/--pt-max must satisfy 0 < pt_min < pt_max (GeV), got {self.pt_min}, {self.pt_max}."
            )
        unknown = [c for c in self.classes if c not in PROCESSES]
        if unknown:
            raise ToolkitError(f"unknown jet class {unknown[0]!r}; the classes are {', '.join(PROCESSES)}.")
        if self.c_max <= 0:
            raise ToolkitError(f"c_max must be positive, got {self.c_max}.")

    def cache_key(self) -> str:

        return stable_hash({**asdict(self), "format": 1})


def pythia_settings(cls: str, seed: int, pt_min: float, pt_max: float) -> list[str]:
    """Every Pythia setting of one class (shared by the generator and the benchmark's bare loop)."""
    return [
        "Beams:eCM = 13000.",
        f"PhaseSpace:pTHatMin = {pt_min}",
        f"PhaseSpace:pTHatMax = {pt_max}",
        "PartonLevel:MPI = off",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        "Next:numberCount = 0",
        "Print:quiet = on",
        *PROCESSES[cls][0],
    ]


def make_pythia(cls: str, seed: int, pt_min: float, pt_max: float) -> Any:
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for setting in pythia_settings(cls, seed, pt_min, pt_max):
        if not pythia.readString(setting):
            raise RuntimeError(f"Pythia rejected the setting {setting!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise for class {cls}")
    return pythia


def _resonances(pythia: Any, pdg: int) -> list[tuple[float, float]]:
    """(η, φ) of the resonances of the hard process (a record of ~10 entries)."""
    out = []
    for p in pythia.process:
        if p.idAbs() == pdg and p.pT() > 0:
            out.append((p.eta(), p.phi()))
    return out


def visible_final(pythia: Any) -> np.ndarray:
    """(n, 4) four-momenta of the visible final-state particles of the current event."""
    return np.array([(p.px(), p.py(), p.pz(), p.e()) for p in pythia.event if p.isFinal() and p.isVisible()])


def _matches(eta: float, phi: float, resonances: list[tuple[float, float]] | None) -> bool:
    if abs(eta) >= ETA_MAX:
        return False
    return resonances is None or any(math.hypot(eta - e, wrap_phi(phi - p)) < R for e, p in resonances)


def make_slowjet() -> Any:
    """Anti-kT R = 0.8 on visible final-state particles with |η| < 2.4 + R, through fjcore."""
    import pythia8mc

    # power −1 (anti-kT), R, pT_min, |η| of particles, select 2 (visible final), massSet 2, no hook, fjcore on
    return pythia8mc.SlowJet(-1, R, 20.0, ETA_MAX + R + 0.2, 2, 2, None, True, True)


def select_jet_pythia(pythia: Any, slowjet: Any, resonances: list[tuple[float, float]] | None) -> np.ndarray | None:
    """Constituents (n, 4) of the kept jet of the current event, clustered in C++."""
    slowjet.analyze(pythia.event)
    for k in range(slowjet.sizeJet()):  # ordered by decreasing pT
        jet = slowjet.p(k)
        if _matches(jet.eta(), jet.phi(), resonances):
            event = pythia.event
            rows = []
            for i in slowjet.constituents(k):
                p = event[i]
                rows.append((p.px(), p.py(), p.pz(), p.e()))
            return np.array(rows)
    return None


def select_jet(p4: np.ndarray, resonances: list[tuple[float, float]] | None) -> np.ndarray | None:
    """The same selection with the ``fastjet`` package on all visible particles (the reference)."""
    import fastjet

    particles = [fastjet.PseudoJet(*row) for row in p4]
    for i, pj in enumerate(particles):
        pj.set_user_index(i)
    sequence = fastjet.ClusterSequence(particles, fastjet.JetDefinition(fastjet.antikt_algorithm, R))
    for jet in fastjet.sorted_by_pt(sequence.inclusive_jets(20.0)):
        if _matches(jet.eta(), jet.phi_std(), resonances):
            return p4[[c.user_index() for c in jet.constituents()]]
    return None


def _generate_share(
    cls_index: int, n: int, seed: int, cfg: JetGenConfig, tick: Callable[[], None]
) -> tuple[np.ndarray, np.ndarray]:
    cls = cfg.classes[cls_index]
    pythia = make_pythia(cls, seed, cfg.pt_min, cfg.pt_max)
    slowjet = make_slowjet()
    pdg = PROCESSES[cls][1]
    label = JET_CLASSES.index(cls)
    selected: list[np.ndarray] = []
    while len(selected) < n:
        if not pythia.next():
            continue
        resonances = _resonances(pythia, pdg) if pdg is not None else None
        p4 = select_jet_pythia(pythia, slowjet, resonances)
        if p4 is None:
            continue
        selected.append(p4)
        tick()
    constituents = np.concatenate(
        [constituent_features_batch(selected[i : i + 512], cfg.c_max) for i in range(0, n, 512)]
    )
    jets = np.stack([jet_record(p4, label) for p4 in selected])
    return constituents, jets


def _shares(cfg: JetGenConfig) -> list[tuple[int, int, int, int]]:
    """(worker, class index, n jets, seed): each worker a fixed share of every class."""
    n_classes = len(cfg.classes)
    per_class = [cfg.n_jets // n_classes + (1 if c < cfg.n_jets % n_classes else 0) for c in range(n_classes)]
    shares = []
    for c, n_c in enumerate(per_class):
        for w in range(cfg.workers):
            n = n_c // cfg.workers + (1 if w < n_c % cfg.workers else 0)
            if n:
                shares.append((w, c, n, (cfg.seed * 1_000_003 + c * 10_007 + w * 101 + 1) % 900_000_000))
    return shares


def silence_fastjet_banner() -> None:
    """FastJet prints its banner on the first clustering of a process: do that one quietly."""

    with captured_output(os.devnull):
        select_jet(np.array([[50.0, 0.0, 0.0, 50.0], [0.0, 50.0, 0.0, 50.0]]), None)
        make_slowjet()


def _worker(cfg: JetGenConfig, shares: list[tuple[int, int, int, int]], queue: Any) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    silence_fastjet_banner()
    for _, c, n, seed in shares:
        constituents, jets = _generate_share(c, n, seed, cfg, lambda: queue.put(("tick", 1)))
        queue.put(("share", (c, seed, constituents, jets)))
    queue.put(("done", None))


def generate_jets(cfg: JetGenConfig, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``cfg.n_jets`` jets on ``cfg.workers`` processes; (constituents, jets) arrays."""
    from tqdm.auto import tqdm

    cfg.validate()
    shares = _shares(cfg)
    by_worker = [[s for s in shares if s[0] == w] for w in range(cfg.workers)]
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(cfg, own, queue), daemon=True) for own in by_worker if own]
    for p in procs:
        p.start()
    results: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    done = 0
    bar = tqdm(total=cfg.n_jets, desc="jets", unit="jet", file=sys.stderr, disable=not progress)
    try:
        while done < len(procs):
            try:
                kind, payload = queue.get(timeout=5)
            except Exception:  # queue.Empty: check the workers are alive
                dead = [p for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
                if dead:
                    raise RuntimeError(f"a generator worker died (exit code {dead[0].exitcode})") from None
                continue
            if kind == "tick":
                bar.update(payload)
            elif kind == "share":
                c, seed, constituents, jets = payload
                results[(c, seed)] = (constituents, jets)
            else:
                done += 1
    finally:
        bar.close()
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    ordered = [results[(c, seed)] for _, c, _, seed in sorted(shares, key=lambda s: (s[1], s[0]))]
    return np.concatenate([o[0] for o in ordered]), np.concatenate([o[1] for o in ordered])


def write_jet_file(path: str | Path, constituents: np.ndarray, jets: np.ndarray, cfg: JetGenConfig) -> None:
    """The public layout: ``jetConstituentList`` (gzip), ``jets``, feature names as bytes."""
    import h5py

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset(
                "jetConstituentList",
                data=constituents,
                compression="gzip",
                chunks=(min(len(constituents), 256), constituents.shape[1], constituents.shape[2]),
            )
            f.create_dataset("jets", data=jets)
            f.create_dataset("jetFeatureNames", data=np.array([n.encode() for n in JET_FEATURES]))
            f.create_dataset("particleFeatureNames", data=np.array([n.encode() for n in PARTICLE_FEATURES]))
            for key, value in asdict(cfg).items():
                f.attrs[key] = list(value) if isinstance(value, tuple) else value
            f.attrs["generator"] = "pythia8mc 8.317 + fastjet anti-kT R=0.8 (deepsets-trigger)"
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def jet_file(cfg: JetGenConfig, cache_dir: str | Path, progress: bool = False) -> Path:
    """The cached file for ``cfg``, generated first if it is not there yet."""
    path = Path(cache_dir).expanduser() / f"jets-{cfg.cache_key()}.h5"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        constituents, jets = generate_jets(cfg, progress=progress)
        write_jet_file(path, constituents, jets, cfg)
    return path


__all__ = [
    "JetGenConfig",
    "generate_jets",
    "jet_file",
    "kinematics",
    "make_pythia",
    "pythia_settings",
    "write_jet_file",
]
