"""Barrel hits from Pythia 8 events: pile-up, helices in a solenoid, resolution, noise.

One event is a triggering interaction — an optional hard process (``ttbar``, ``dijet``), else one
minimum-bias collision (``SoftQCD:inelastic``) — plus a Poisson(μ) number of minimum-bias
pile-up collisions, at √s = 14 TeV (the TrackML setting). Every collision gets its own vertex,
z ~ N(0, ``vertex_sigma_z`` = 5 mm), x = y = 0: TrackML's luminous region, measured on the real
event as the spread of z0 of the straight lines through the true positions of pT > 1 GeV
particles on the first two layers (σ = 5.2 mm over 85 particles; the LHC's own is ≈ 45 mm, set
``vertex_sigma_z`` for that). Particles start at their vertex plus Pythia's production point (so
K0S/Λ daughters start displaced). The collisions come from :mod:`gnn_keras.tracking.collisions`;
their particles become hits (helices, resolution, noise) in :mod:`gnn_keras.tracking.hits`. An
event whose triggering interaction leaves no hit is drawn again, so no event is empty.

Reproducibility: Pythia's random stream is seeded per worker, every other random number per event
(from ``seed`` and the event number), so a directory is reproducible from its seed and worker count.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.errors import ToolkitError
from gnn_keras.tracking.collisions import (
    DEFAULT_CACHE,
    HARD_PROCESSES,
    MINBIAS,
    charged_particles,
    make_pythia,
    mpi_init_file,
    pythia_settings,
    reuse_mpi_init,
)
from gnn_keras.tracking.hits import PARTICLE_STRIDE, SIGMA_RPHI, SIGMA_Z, event_arrays, propagate
from gnn_keras.tracking.trackml import event_name, write_event

GENERATION_FILE = "generation.json"


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
        from deepsets_trigger.config import stable_hash

        return stable_hash({**asdict(self), "format": 1})


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
    minbias = make_pythia(MINBIAS, _pythia_seed(cfg.seed, worker, 0), cfg.ecm, reuse_mpi_init(init_file))
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
        hits, truth, particles = event_arrays(interactions, cfg, rng)
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
    from deepsets_trigger.io import staged_directory, write_json

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


__all__ = [
    "DEFAULT_CACHE",
    "GENERATION_FILE",
    "HARD_PROCESSES",
    "MINBIAS",
    "PARTICLE_STRIDE",
    "SIGMA_RPHI",
    "SIGMA_Z",
    "TrackGenConfig",
    "charged_particles",
    "event_directory",
    "generate_events",
    "make_pythia",
    "mpi_init_file",
    "propagate",
    "pythia_settings",
    "write_event_directory",
]
