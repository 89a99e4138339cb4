"""A parametric sampling calorimeter with the GarNet paper's geometry (arXiv 2008.03601).

Geometry: Si–W sampling, 25 EM layers of 0.95 cm W followed by 25 hadronic layers of 6.95 cm
W (197.5 cm), square cells of 2 cm (EM) and 4 cm (hadronic); particles enter at normal
incidence near the centre. Tungsten: X0 = 0.35 cm, λ_I = 9.95 cm, Molière radius 0.93 cm.

Showers (energies in calibrated GeV, EM scale):

- EM (e, γ, π0 → γγ as one shower): longitudinal Gamma profile dE/dt ∝ (bt)^(a−1) e^(−bt) in
  X0 with b = 0.5 and t_max = ln(E/E_c) + C (E_c = 8 MeV; C = −0.5 for e, +0.5 for γ/π0, which
  also start after a conversion length); lateral core + tail (R_core = 0.2 R_M growing with
  depth, R_tail = R_M, 80 % core) sampled as energy spots; stochastic sampling fluctuations
  a_EM = 17 %/√E applied layer by layer.
- Hadronic (π±): a minimum-ionising track (≈ 22 MeV/cm) up to an exponential first
  interaction (λ_I), then an EM fraction f_em = 1 − (E/1 GeV)^(k−1) with k = 0.82 that
  fluctuates event by event (σ = 0.1), a non-compensating hadronic response h/e = 0.6,
  a broader and deeper profile (Gamma in λ_I, lateral core 3 cm, tail 10 cm) and larger
  sampling fluctuations (50 %/√E).
- Electronic noise (σ = 4 MeV per cell) in every cell of the window, optional pile-up of
  soft particles (Poisson mean, 0.5–5 GeV), a 3σ cell threshold, and a cluster: the hits
  within 12 cm (transverse) of the highest-energy cell.

Per event the hits (x, y, z, E) are sorted by energy and padded to V_max = 128, written in the
layout of the GarNet public dataset: ``cluster`` (N, V, 4), ``size`` (N,), ``truth_energy``,
``truth_pid`` (PDG ids: 11 e, 211 π±, 111 π0, 22 γ).
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.config import stable_hash
from deepsets_trigger.errors import ToolkitError

PARTICLES = {"e": 11, "pi+": 211, "pi0": 111, "gamma": 22}
MAX_EVENTS = 1_000_000  # 2 kB of hits per event: a file stays within a few GB of memory
MAX_PILEUP = 1000.0
X0, LAMBDA_I, R_MOLIERE, E_CRIT = 0.35, 9.95, 0.93, 0.008
EM_LAYERS, HAD_LAYERS, EM_THICK, HAD_THICK = 25, 25, 0.95, 6.95
EM_CELL, HAD_CELL = 2.0, 4.0
V_MAX = 128
NOISE, THRESHOLD_SIGMA, CLUSTER_RADIUS, WINDOW = 0.004, 3.0, 12.0, 24.0
A_EM, A_HAD, H_OVER_E, MIP_GEV_PER_CM = 0.17, 0.50, 0.60, 0.022

_THICK = np.r_[np.full(EM_LAYERS, EM_THICK), np.full(HAD_LAYERS, HAD_THICK)]
Z_EDGES = np.r_[0.0, np.cumsum(_THICK)]
Z_CENTRES = 0.5 * (Z_EDGES[:-1] + Z_EDGES[1:])
CELL = np.r_[np.full(EM_LAYERS, EM_CELL), np.full(HAD_LAYERS, HAD_CELL)]


@dataclass(frozen=True)
class CaloGenConfig:
    """What determines a generated calorimeter file."""

    n_events: int
    particles: tuple[str, ...] = ("e", "pi+")
    e_min: float = 10.0
    e_max: float = 100.0
    pileup: float = 0.0
    seed: int = 0

    def validate(self) -> None:
        if not 0 < self.n_events <= MAX_EVENTS:
            raise ToolkitError(
                f"--n-events must be between 1 and {MAX_EVENTS:,} (one file; write several for more), got "
                f"{self.n_events}."
            )
        unknown = [p for p in self.particles if p not in PARTICLES]
        if unknown or not self.particles:
            raise ToolkitError(
                f"unknown particle {unknown[0] if unknown else '(none)'!r}; choose from {', '.join(PARTICLES)}."
            )
        if len(set(self.particles)) != len(self.particles):
            raise ToolkitError(f"--particles lists a particle twice ({', '.join(self.particles)}); give each once.")
        if not all(math.isfinite(v) for v in (self.e_min, self.e_max, self.pileup)):
            raise ToolkitError("--e-min, --e-max and --pileup must be finite numbers.")
        if not 0 < self.e_min < self.e_max:
            raise ToolkitError(f"energies must satisfy 0 < e_min < e_max (GeV), got {self.e_min}, {self.e_max}.")
        if not 0 <= self.pileup <= MAX_PILEUP:
            raise ToolkitError(f"--pileup must be between 0 and {MAX_PILEUP:g} particles, got {self.pileup}.")

    def cache_key(self) -> str:

        return stable_hash({**asdict(self), "format": 1})


def _layer_fractions(z0: float, a: float, b: float, unit: float) -> np.ndarray:
    """Fraction of a Gamma(a, b) profile (in ``unit`` lengths from z0) deposited in each layer."""
    from scipy.special import gammainc

    lo = np.clip((Z_EDGES[:-1] - z0) / unit, 0, None)
    hi = np.clip((Z_EDGES[1:] - z0) / unit, 0, None)
    return gammainc(a, b * hi) - gammainc(a, b * lo)


Spots = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # (layer, x, y, energy)


def _spots(
    rng: np.random.Generator, energies: np.ndarray, r_core: np.ndarray, r_tail: float, core: float, n: int
) -> Spots:
    """Energy spots per layer: (layer, x, y, e) with radii from a core + tail profile."""
    layers = np.repeat(np.arange(len(energies)), n)
    radius_scale = np.where(rng.random(layers.size) < core, np.repeat(r_core, n), r_tail)
    u = rng.random(layers.size)
    r = radius_scale * np.sqrt(u / (1 - u + 1e-12))
    phi = rng.uniform(0, 2 * np.pi, layers.size)
    return layers, r * np.cos(phi), r * np.sin(phi), np.repeat(energies / n, n)


def _sampled(rng: np.random.Generator, energies: np.ndarray, stochastic: float) -> np.ndarray:
    return np.clip(
        energies + rng.normal(0, 1, energies.shape) * stochastic * np.sqrt(np.clip(energies, 0, None)), 0, None
    )


def em_shower(rng: np.random.Generator, energy: float, photon: bool, z0: float = 0.0) -> Spots:
    """Spots of an EM shower of ``energy`` GeV starting at depth ``z0`` (cm)."""
    if photon:
        z0 += rng.exponential(9.0 / 7.0 * X0)
    t_max = max(math.log(energy / E_CRIT) + (0.5 if photon else -0.5), 1.0) * rng.normal(1.0, 0.05)
    b = 0.5
    deposits = energy * _layer_fractions(z0, 1.0 + b * t_max, b, X0)
    deposits = _sampled(rng, deposits, A_EM)
    r_core = 0.2 * R_MOLIERE * (1.0 + np.clip(Z_CENTRES - z0, 0, None) / (10 * X0))
    return _spots(rng, deposits, r_core, R_MOLIERE, 0.8, 24)


def hadron_shower(rng: np.random.Generator, energy: float) -> Spots:
    """Spots of a charged-pion shower: MIP track, then EM and (non-compensated) hadronic parts."""
    z_int = rng.exponential(LAMBDA_I)
    before = np.clip(np.minimum(Z_EDGES[1:], z_int) - Z_EDGES[:-1], 0, None) * MIP_GEV_PER_CM
    track = (np.arange(EM_LAYERS + HAD_LAYERS), np.zeros(before.size), np.zeros(before.size), before)
    f_em = float(np.clip(rng.normal(1 - energy ** (0.82 - 1), 0.1), 0.05, 0.95))
    em = em_shower(rng, f_em * energy, photon=False, z0=z_int)
    hadronic = H_OVER_E * (1 - f_em) * energy
    b = 0.9
    a = 1.0 + b * (0.2 * math.log(energy) + 0.7)
    deposits = _sampled(rng, hadronic * _layer_fractions(z_int, a, b, LAMBDA_I), A_HAD)
    had = _spots(rng, deposits, np.full(deposits.size, 3.0), 10.0, 0.7, 24)
    return tuple(np.concatenate(parts) for parts in zip(track, em, had, strict=True))


def _shower(rng: np.random.Generator, particle: str, energy: float) -> Spots:
    if particle == "pi+":
        return hadron_shower(rng, energy)
    return em_shower(rng, energy, photon=particle in ("gamma", "pi0"))


def simulate_event(rng: np.random.Generator, particle: str, energy: float, pileup: float = 0.0) -> np.ndarray:
    """The clustered hits (n, 4) = (x, y, z, E) of one particle, sorted by energy."""
    x0, y0 = rng.uniform(-1.0, 1.0, 2)
    showers = [(_shower(rng, particle, energy), x0, y0)]
    for _ in range(rng.poisson(pileup) if pileup > 0 else 0):
        soft = rng.choice(["pi+", "gamma"])
        showers.append((_shower(rng, soft, rng.uniform(0.5, 5.0)), *rng.uniform(-WINDOW, WINDOW, 2)))
    layers, xs, ys, es = (
        np.concatenate(p) for p in zip(*[(s[0], s[1] + dx, s[2] + dy, s[3]) for s, dx, dy in showers], strict=True)
    )
    cell = CELL[layers]
    ix, iy = np.floor(xs / cell).astype(int), np.floor(ys / cell).astype(int)
    inside = (np.abs(ix * cell) < WINDOW) & (np.abs(iy * cell) < WINDOW)
    keys = (layers[inside] * 1000 + (ix[inside] + 500)) * 1000 + (iy[inside] + 500)
    uniq, inverse = np.unique(keys, return_inverse=True)
    energies = np.bincount(inverse, weights=es[inside])
    # noise in every cell of the window (signal cells included)
    grid = _window_cells()
    all_keys = np.union1d(uniq, grid)
    cell_e = np.zeros(all_keys.size)
    cell_e[np.searchsorted(all_keys, uniq)] = energies
    cell_e += rng.normal(0, NOISE, all_keys.size)
    keep = cell_e > THRESHOLD_SIGMA * NOISE
    keys, cell_e = all_keys[keep], cell_e[keep]
    layer = keys // 1_000_000
    jx, jy = (keys // 1000) % 1000 - 500, keys % 1000 - 500
    size = CELL[layer]
    hits = np.stack([(jx + 0.5) * size, (jy + 0.5) * size, Z_CENTRES[layer], cell_e], axis=1)
    if not len(hits):
        return np.zeros((0, 4))
    seed = hits[np.argmax(hits[:, 3])]
    near = np.hypot(hits[:, 0] - seed[0], hits[:, 1] - seed[1]) < CLUSTER_RADIUS
    hits = hits[near]
    return hits[np.argsort(-hits[:, 3], kind="stable")]


_WINDOW_CACHE: list[np.ndarray] = []


def _window_cells() -> np.ndarray:
    if not _WINDOW_CACHE:
        keys = []
        for layer in range(EM_LAYERS + HAD_LAYERS):
            n = int(WINDOW // CELL[layer])
            i = np.arange(-n, n)
            ix, iy = np.meshgrid(i, i)
            keys.append((layer * 1000 + (ix.ravel() + 500)) * 1000 + (iy.ravel() + 500))
        _WINDOW_CACHE.append(np.sort(np.concatenate(keys)))
    return _WINDOW_CACHE[0]


def generate_calo(cfg: CaloGenConfig, progress: bool = False) -> dict[str, np.ndarray]:
    """Events balanced over ``cfg.particles``, energies uniform in [e_min, e_max]."""
    from tqdm.auto import tqdm

    cfg.validate()
    rng = np.random.default_rng(cfg.seed)
    cluster = np.zeros((cfg.n_events, V_MAX, 4), dtype=np.float32)
    size = np.zeros(cfg.n_events, dtype=np.int32)
    truth_energy = rng.uniform(cfg.e_min, cfg.e_max, cfg.n_events).astype(np.float32)
    kinds = np.arange(cfg.n_events) % len(cfg.particles)
    truth_pid = np.array([PARTICLES[cfg.particles[k]] for k in kinds], dtype=np.int32)
    for i in tqdm(range(cfg.n_events), desc="calo", unit="ev", file=sys.stderr, disable=not progress):
        hits = simulate_event(rng, cfg.particles[kinds[i]], float(truth_energy[i]), cfg.pileup)[:V_MAX]
        cluster[i, : len(hits)] = hits
        size[i] = len(hits)
    return {"cluster": cluster, "size": size, "truth_energy": truth_energy, "truth_pid": truth_pid}


def write_calo_file(path: str | Path, data: dict[str, np.ndarray], cfg: CaloGenConfig) -> None:
    """The GarNet dataset layout, written to a temporary name and renamed."""
    import h5py

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            for key, value in data.items():
                f.create_dataset(key, data=value, compression="gzip" if value.ndim > 1 else None)
            for key, value in asdict(cfg).items():
                f.attrs[key] = list(value) if isinstance(value, tuple) else value
            f.attrs["generator"] = "parametric Si-W sampling calorimeter (deepsets-trigger)"
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


CALO_KEYS = ("cluster", "size", "truth_energy", "truth_pid")


def read_calo(path: str | Path) -> dict[str, np.ndarray]:
    """Read a calorimeter file (generated or the GarNet public dataset) with clear errors."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ToolkitError(f"calorimeter file {str(path)!r} does not exist.")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in CALO_KEYS if k not in f]
            if missing:
                raise ToolkitError(
                    f"{str(path)!r} lacks {', '.join(missing)}: "
                    f"expected the GarNet layout with keys {', '.join(CALO_KEYS)}."
                )
            return {k: f[k][()] for k in CALO_KEYS}
    except OSError as exc:
        raise ToolkitError(f"{str(path)!r} is not a readable HDF5 file (truncated or corrupt?): {exc}") from None


def calo_file(cfg: CaloGenConfig, cache_dir: str | Path, progress: bool = False) -> Path:
    """The cached file for ``cfg``, generated first if needed."""
    path = Path(cache_dir).expanduser() / f"calo-{cfg.cache_key()}.h5"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_calo_file(path, generate_calo(cfg, progress), cfg)
    return path


def as_sets(data: dict[str, np.ndarray], n_hits: int, task: str, particles: tuple[str, ...]) -> tuple[Any, ...]:
    """DeepSets inputs from clusters: the ``n_hits`` most energetic hits (x, y, z, E).

    Classification: one-hot over ``particles`` (e.g. π0 vs π±); regression: E_true / 100 GeV.
    """
    x = data["cluster"][:, :n_hits, :].astype(np.float32)
    if task == "regression":
        return x, (data["truth_energy"] / 100.0).astype(np.float32).reshape(-1, 1), ()
    pids = [PARTICLES[p] for p in particles]
    keep = np.isin(data["truth_pid"], pids)
    labels = np.array([pids.index(p) for p in data["truth_pid"][keep]])
    return x[keep], np.eye(len(pids), dtype=np.float32)[labels], tuple(particles)
