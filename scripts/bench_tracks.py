"""Benchmark of the tracking-graph chain, measured in one run on this machine.

1. Generation: ``--events`` events of μ = ``--pileup`` minimum bias (TrackML barrel, 10 % noise)
   on ``--workers`` processes, timed alone (Pythia's start-up included, its cached MPI
   initialisation reused), against a bare Pythia minimum-bias loop of the same collisions.
2. Scan: ``deepsets-trigger graphs`` over those events — k-NN k ∈ {1, 2, 4, 8}, ε-NN ε ∈ {20, 50,
   100, 200} mm, pattern window ∈ {0.5, 1, 2}, a module map trained on the first half — timed
   alone; events/s counts every event each row measures.
3. The real TrackML subset with the module map trained on the generated events.

    python scripts/bench_tracks.py [--events 1000] [--pileup 10] [--workers 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

SCAN = {
    "builders": [
        {"builder": "knn", "k": [1, 2, 4, 8]},
        {"builder": "epsilon", "epsilon": [20, 50, 100, 200]},
        {"builder": "pattern", "window": [0.5, 1, 2]},
        {"builder": "module_map"},
    ],
    "reference": {"builder": "knn", "k": 4},
    "pt_min": 0.0,
    "sectors": 16,
}
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "trackml_event1000_subset" / "event000001000"


def bare_pythia(collisions: int) -> float:
    """Collisions/s of a bare minimum-bias loop (same settings, cached initialisation)."""
    from gnn_keras.tracking.collisions import MINBIAS, make_pythia, mpi_init_file, reuse_mpi_init

    pythia = make_pythia(MINBIAS, 5, 14000.0, reuse_mpi_init(mpi_init_file(14000.0)))
    start = time.perf_counter()
    for _ in range(collisions):
        while not pythia.next():
            pass
    return collisions / (time.perf_counter() - start)


def main() -> None:
    from gnn_keras.tracking.builders import build_edges, builder_spec, train_module_map
    from gnn_keras.tracking.generate import TrackGenConfig, mpi_init_file, write_event_directory
    from gnn_keras.tracking.metrics import edge_counts
    from gnn_keras.tracking.plots import plot_scan
    from gnn_keras.tracking.scan import read_rows, run_scan, scan_config
    from gnn_keras.tracking.trackml import find_events, read_event

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--pileup", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", help="keep the events and the scan here (default: a temporary directory)")
    args = parser.parse_args()
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_tracks-"))
    root.mkdir(parents=True, exist_ok=True)
    events_dir, scan_dir = root / "events", root / "scan"
    shutil.rmtree(scan_dir, ignore_errors=True)
    mpi_init_file(14000.0)  # a one-off 6 s, not part of a generation

    cfg = TrackGenConfig(args.events, args.pileup, seed=1, workers=args.workers, noise_fraction=0.1)
    summary = write_event_directory(cfg, events_dir)
    collisions = sum(e["n_interactions"] for e in summary["events"])
    hits = np.mean([e["n_hits"] for e in summary["events"]])
    bare = bare_pythia(min(collisions, 2000))
    print(
        f"generation: {args.events} events (μ = {args.pileup:g}, {collisions} collisions, {hits:.0f} hits/event) "
        f"on {args.workers} workers in {summary['wall_s']:.1f} s = {summary['events_per_s']:.1f} events/s, "
        f"{collisions / summary['wall_s']:.0f} collisions/s; bare Pythia on one core: {bare:.0f} collisions/s"
    )

    cfg_scan = scan_config(SCAN)
    start = time.perf_counter()
    result = run_scan([events_dir], cfg_scan, scan_dir, workers=args.workers)
    wall = time.perf_counter() - start
    plot_scan(scan_dir)
    rows = read_rows(scan_dir / "graphs.csv")
    measured = result.n_events * len(rows)
    print(
        f"scan: {len(rows)} rows × {result.n_events} events on {args.workers} workers in {wall:.1f} s "
        f"({result.n_events / wall * len(rows):.0f} event-rows/s; {args.events / wall:.1f} events/s for the scan, "
        f"loading included); {measured} graphs measured"
    )
    print(f"{'builder':>10} {'param':>7} {'eff':>6} {'purity':>6} {'rec_k4':>6} {'prec_k4':>7} {'edges/ev':>9} "
          f"{'cand/sector':>11} {'ms/ev':>6}")  # fmt: skip
    for r in rows:
        param = r["k"] or r["epsilon"] or r["window"] or r["min_count"]
        print(
            f"{r['builder']:>10} {float(param):7g} {float(r['edge_efficiency']):6.3f} {float(r['edge_purity']):6.3f} "
            f"{float(r['recall_vs_knn']):6.3f} {float(r['precision_vs_knn']):7.3f} {float(r['edges_per_event']):9.0f} "
            f"{r['candidate_edges'] or '-':>11} {float(r['build_ms_per_event']):6.2f}"
        )

    if REAL.with_name(REAL.name + "-hits.csv").is_file():
        events = [read_event(p) for p in find_events([events_dir])]
        keys, seen = train_module_map(events[: len(events) // 2])
        real = read_event(REAL)
        for min_count in (1, 2, 5):
            edges = build_edges(real, builder_spec("module_map", min_count=min_count), keys[seen >= min_count])
            s, s1 = edge_counts(real, edges).summary(), edge_counts(real, edges, pt_min=1.0).summary()
            print(
                f"real subset, module map from {len(events) // 2} generated events (seen ≥ {min_count}): "
                f"efficiency {s['edge_efficiency']:.3f} (pT > 1 GeV: {s1['edge_efficiency']:.3f}), "
                f"purity {s['edge_purity']:.3f}, {len(edges)} edges"
            )
    print(f"outputs: {root}")


if __name__ == "__main__":
    main()
