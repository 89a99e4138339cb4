"""Barrel hits from Pythia 8 events: pile-up, helices in a solenoid, resolution, noise.

One event is a triggering interaction — an optional hard process (``ttbar``, ``dijet``), else one
minimum-bias collision (``SoftQCD:inelastic``) — plus a Poisson(μ) number of minimum-bias
pile-up collisions, at √s = 14 TeV (the TrackML setting). Every collision gets its own vertex,
z ~ N(0, ``vertex_sigma_z`` = 5 mm), x = y = 0: TrackML's luminous region, measured on the real
event as the spread of z0 of the straight lines through the true positions of pT > 1 GeV
particles on the first two layers (σ = 5.2 mm over 85 particles; the LHC's own is ≈ 45 mm, set
``vertex_sigma_z`` for that). Particles start at their vertex plus Pythia's production point (so
K0S/Λ daughters start displaced).

Charged final-state particles with pT ≥ ``pt_min`` (0.1 GeV) and |η| ≤ ``eta_max`` (4, beyond the
innermost layer's reach) are propagated as ideal helices (:mod:`gnn_keras.tracking.helix`) in a
field of ``field_t`` (2 T); a hit is recorded at the first outward crossing of each barrel layer
with |z| ≤ its half-length, smeared by the layer's Gaussian resolution in rφ and z
(:mod:`gnn_keras.tracking.geometry`), and given the module it lands on. Hits stay on the nominal
cylinders (no module tilt), no multiple scattering or material interactions. Noise hits, a
fraction ``noise_fraction`` of all hits (the real TrackML subset has 0.23), are spread uniformly
over each layer in proportion to its particle hits. An event whose triggering interaction leaves
no hit is drawn again, so no event is empty.

Reproducibility: Pythia's random stream is seeded per worker, every other random number per event
(from ``seed`` and the event number), so a directory is reproducible from its seed and worker count.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.config import stable_hash
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import staged_directory, write_json
from gnn_keras.tracking.geometry import BARREL, HALF_LENGTHS, RADII, module_index
from gnn_keras.tracking.helix import cylinder_crossings
from gnn_keras.tracking.trackml import event_name, write_event

MINBIAS = ("SoftQCD:inelastic = on",)
HARD_PROCESSES: dict[str, tuple[str, ...]] = {
    "ttbar": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on"),
    "dijet": ("HardQCD:all = on", "PhaseSpace:pTHatMin = 20."),
}
SIGMA_RPHI = np.array([layer.sigma_rphi for layer in BARREL])
SIGMA_Z = np.array([layer.sigma_z for layer in BARREL])
PARTICLE_STRIDE = 1_000_000  # particle_id = (interaction + 1) · stride + Pythia index
GENERATION_FILE = "generation.json"
DEFAULT_CACHE = "~/.cache/deepsets-trigger"


@dataclass(frozen=True)
class TrackGenConfig:
    """What determines a generated event directory (its cache key)."""

    n_events: int
    pileup: float = 0.0
    seed: int = 0
    workers: int = 1
    hard_process: str | None = None
    field_t: float = 2.0
    pt_min: float = 0.1
    eta_max: float = 4.0
    noise_fraction: float = 0.0
    vertex_sigma_z: float = 5.0
    ecm: float = 14000.0

    def validate(self) -> None:
        """Raises:
        ToolkitError: a setting is out of range.
        """
        checks = [
            (self.n_events > 0, f"--n-events must be positive, got {self.n_events}."),
            (self.pileup >= 0, f"--pileup must be ≥ 0 (mean pile-up collisions), got {self.pileup}."),
            (self.workers > 0, f"--workers must be positive, got {self.workers}."),
            (self.field_t > 0, f"--field must be a positive field in tesla, got {self.field_t}."),
            (self.pt_min > 0, f"--pt-min must be positive (GeV), got {self.pt_min}."),
            (self.eta_max > 0, f"eta_max must be positive, got {self.eta_max}."),
            (0 <= self.noise_fraction < 1, f"--noise must be a fraction in [0, 1), got {self.noise_fraction}."),
            (self.vertex_sigma_z >= 0, f"vertex_sigma_z must be ≥ 0 mm, got {self.vertex_sigma_z}."),
            (0 <= self.seed < 2**31, f"--seed must be in [0, 2^31), got {self.seed}."),
        ]
        for ok, message in checks:
            if not ok:
                raise ToolkitError(message)
        if self.hard_process is not None and self.hard_process not in HARD_PROCESSES:
            raise ToolkitError(
                f"--hard {self.hard_process!r} is not one of {', '.join(HARD_PROCESSES)} "
                "(or leave it out for minimum bias)."
            )

    def cache_key(self) -> str:

        return stable_hash({**asdict(self), "format": 1})


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


def _reuse(init_file: Path) -> tuple[str, ...]:
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


def propagate(p: np.ndarray, q: np.ndarray, v: np.ndarray, field_t: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(particle, layer)`` indices of the hits and their true position and momentum."""
    cross = cylinder_crossings(v, p, q, RADII, field_t)
    inside = cross["hit"] & (np.abs(cross["z"]) <= HALF_LENGTHS[None, :])
    part, layer = np.nonzero(inside)
    return np.stack([part, layer], axis=1), {k: cross[k][part, layer] for k in ("x", "y", "z", "px", "py", "pz")}


def _event_arrays(
    interactions: list[dict[str, np.ndarray]], cfg: TrackGenConfig, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Hits, truth and particles columns of one event from its interactions' particles."""
    vertex_z = rng.normal(0.0, cfg.vertex_sigma_z, size=len(interactions))
    p = np.concatenate([it["p"] for it in interactions])
    q = np.concatenate([it["q"] for it in interactions])
    v = np.concatenate([it["v"] + [0.0, 0.0, vz] for it, vz in zip(interactions, vertex_z, strict=True)])
    pid = np.concatenate([(i + 1) * PARTICLE_STRIDE + it["index"] for i, it in enumerate(interactions)]).astype(
        np.int64
    )
    which, true = propagate(p, q, v, cfg.field_t)
    part, layer = which[:, 0], which[:, 1]
    radius = RADII[layer]
    phi_true = np.arctan2(true["y"], true["x"])
    phi = phi_true + rng.normal(size=len(layer)) * SIGMA_RPHI[layer] / radius
    # a measurement lies on its sensor: clip the smeared z to the layer
    z = np.clip(true["z"] + rng.normal(size=len(layer)) * SIGMA_Z[layer], -HALF_LENGTHS[layer], HALF_LENGTHS[layer])
    particle_id = pid[part]
    truth = {**{f"t{k}": true[k] for k in ("x", "y", "z")}, **{f"tp{k}": true[f"p{k}"] for k in "xyz"}}
    n_true = len(layer)
    weight = np.full(n_true, 1.0 / max(n_true, 1))
    if cfg.noise_fraction > 0 and n_true:
        n_noise = int(round(cfg.noise_fraction / (1 - cfg.noise_fraction) * n_true))
        per_layer = rng.multinomial(n_noise, np.bincount(layer, minlength=len(BARREL)) / n_true)
        noise_layer = np.repeat(np.arange(len(BARREL)), per_layer)
        noise_phi = rng.uniform(-np.pi, np.pi, n_noise)
        noise_z = rng.uniform(-1.0, 1.0, n_noise) * HALF_LENGTHS[noise_layer]
        noise_r = RADII[noise_layer]
        layer = np.r_[layer, noise_layer]
        phi = np.r_[phi, noise_phi]
        z = np.r_[z, noise_z]
        radius = np.r_[radius, noise_r]
        particle_id = np.r_[particle_id, np.zeros(n_noise, dtype=np.int64)]
        truth = {
            **{
                f"t{k}": np.r_[truth[f"t{k}"], c]
                for k, c in (("x", noise_r * np.cos(noise_phi)), ("y", noise_r * np.sin(noise_phi)), ("z", noise_z))
            },
            **{f"tp{k}": np.r_[truth[f"tp{k}"], np.zeros(n_noise)] for k in "xyz"},
        }
        weight = np.r_[weight, np.zeros(n_noise)]
    module = module_index(layer, phi, z)
    order = np.lexsort((particle_id, module, layer))
    volume = np.array([s.volume_id for s in BARREL])[layer]
    layer_id = np.array([s.layer_id for s in BARREL])[layer]
    hit_id = np.arange(1, len(layer) + 1, dtype=np.int64)
    hits = {
        "hit_id": hit_id,
        "x": (radius * np.cos(phi))[order],
        "y": (radius * np.sin(phi))[order],
        "z": z[order],
        "volume_id": volume[order],
        "layer_id": layer_id[order],
        "module_id": module[order],
    }
    truth_cols = {"hit_id": hit_id, "particle_id": particle_id[order]}
    truth_cols.update({k: truth[k][order] for k in ("tx", "ty", "tz", "tpx", "tpy", "tpz")})
    truth_cols["weight"] = weight[order]
    vertex = v
    particles = {
        "particle_id": pid,
        "vx": vertex[:, 0],
        "vy": vertex[:, 1],
        "vz": vertex[:, 2],
        "px": p[:, 0],
        "py": p[:, 1],
        "pz": p[:, 2],
        "q": q.astype(np.int64),
        "nhits": np.bincount(part, minlength=len(pid)),
    }
    return hits, truth_cols, particles


def _pythia_seed(seed: int, worker: int, stream: int) -> int:
    return (seed * 1_000_003 + worker * 10_007 + stream * 101 + 1) % 900_000_000


def _generate_range(
    cfg: TrackGenConfig,
    worker: int,
    numbers: range,
    out: Path,
    init_file: Path,
    report: Callable[[dict[str, Any]], None],
) -> None:
    minbias = make_pythia(MINBIAS, _pythia_seed(cfg.seed, worker, 0), cfg.ecm, _reuse(init_file))
    hard = None
    if cfg.hard_process is not None:
        hard = make_pythia(HARD_PROCESSES[cfg.hard_process], _pythia_seed(cfg.seed, worker, 1), cfg.ecm)
    for number in numbers:
        rng = np.random.default_rng([cfg.seed, number])
        n_pileup = int(rng.poisson(cfg.pileup))
        while True:  # a triggering interaction that leaves at least one hit
            primary = charged_particles(hard if hard is not None else minbias, cfg.pt_min, cfg.eta_max)
            which, _ = propagate(primary["p"], primary["q"], primary["v"], cfg.field_t)
            if len(which):
                break
        interactions = [primary] + [charged_particles(minbias, cfg.pt_min, cfg.eta_max) for _ in range(n_pileup)]
        hits, truth, particles = _event_arrays(interactions, cfg, rng)
        name = event_name(number)
        write_event(out, name, hits, truth, particles)
        report(
            {
                "name": name,
                "n_hits": len(hits["hit_id"]),
                "n_noise": int((truth["particle_id"] == 0).sum()),
                "n_particles": len(particles["particle_id"]),
                "n_interactions": len(interactions),
            }
        )


def _worker(cfg: TrackGenConfig, worker: int, numbers: range, out: str, init_file: str, queue: Any) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _generate_range(cfg, worker, numbers, Path(out), Path(init_file), lambda record: queue.put(("event", record)))
    queue.put(("done", worker))


def _ranges(cfg: TrackGenConfig) -> list[range]:
    edges = np.linspace(0, cfg.n_events, min(cfg.workers, cfg.n_events) + 1).round().astype(int)
    return [range(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def generate_events(
    cfg: TrackGenConfig, out: str | Path, progress: bool = False, cache_dir: str | Path = DEFAULT_CACHE
) -> list[dict[str, Any]]:
    """Write ``cfg.n_events`` events (``event000000000`` …) into the existing directory ``out``.

    Args:
        cfg: the generation settings (validated here).
        out: an existing directory (the caller stages it).
        progress: show a progress bar on stderr.
        cache_dir: where Pythia's minimum-bias initialisation is kept (:func:`mpi_init_file`).

    Returns:
        One record per event, in event order: name, n_hits, n_noise, n_particles, n_interactions.
    """
    from tqdm.auto import tqdm

    cfg.validate()
    out = Path(out)
    init_file = mpi_init_file(cfg.ecm, cache_dir)
    records: list[dict[str, Any]] = []
    bar = tqdm(total=cfg.n_events, desc="events", unit="ev", file=sys.stderr, disable=not progress)
    ranges = _ranges(cfg)
    try:
        if len(ranges) == 1:  # no process to spawn: Pythia's initialisation is the only fixed cost

            def report(record: dict[str, Any]) -> None:
                records.append(record)
                bar.update(1)

            _generate_range(cfg, 0, ranges[0], out, init_file, report)
        else:
            records = _run_workers(cfg, ranges, out, init_file, bar)
    finally:
        bar.close()
    return sorted(records, key=lambda r: r["name"])


def _run_workers(cfg: TrackGenConfig, ranges: list[range], out: Path, init_file: Path, bar: Any) -> list[dict]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(cfg, w, numbers, str(out), str(init_file), queue), daemon=True)
        for w, numbers in enumerate(ranges)
    ]
    for proc in procs:
        proc.start()
    records: list[dict[str, Any]] = []
    done = 0
    try:
        while done < len(procs):
            try:
                kind, payload = queue.get(timeout=5)
            except Exception:  # queue.Empty: check that the workers are alive
                dead = [p for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
                if dead:
                    raise RuntimeError(f"a generator worker died (exit code {dead[0].exitcode})") from None
                continue
            if kind == "event":
                records.append(payload)
                bar.update(1)
            else:
                done += 1
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
    return records


def write_event_directory(
    cfg: TrackGenConfig, out: str | Path, progress: bool = False, cache_dir: str | Path = DEFAULT_CACHE
) -> dict[str, Any]:
    """Generate into ``out`` all or nothing: events plus ``generation.json`` (settings, timing, counts).

    A previous event directory (one holding ``generation.json``) is replaced; any other non-empty
    directory is refused.

    Raises:
        ToolkitError: bad settings or an ``out`` that is not ours to replace (nothing written).
    """

    cfg.validate()
    with staged_directory(Path(out), kind="tracks", keep_partial=False) as staging:
        start = time.perf_counter()
        records = generate_events(cfg, staging, progress, cache_dir)
        wall = time.perf_counter() - start
        summary = {
            "config": asdict(cfg),
            "generator": "pythia8mc + helices in the TrackML barrel (deepsets-trigger)",
            "wall_s": round(wall, 3),
            "events_per_s": round(cfg.n_events / wall, 2) if wall > 0 else None,
            "events": records,
        }
        write_json(staging / GENERATION_FILE, summary)
    return summary


def event_directory(cfg: TrackGenConfig, cache_dir: str | Path, progress: bool = False) -> Path:
    """The cached event directory of ``cfg`` under ``cache_dir``, generated first if absent."""
    path = Path(cache_dir).expanduser() / f"tracks-{cfg.cache_key()}"
    if not (path / GENERATION_FILE).is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_event_directory(cfg, path, progress, cache_dir)
    return path
