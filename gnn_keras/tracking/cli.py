"""Command-line parts of the tracking graphs: ``data tracks``, ``data track-graphs``, ``graphs``.

Each ``add_*`` function adds its sub-command to an argparse sub-parser set and binds a handler
that returns an exit code and raises :class:`ToolkitError` for user errors (the toolkit's
``main`` prints it and exits with 2). Nothing heavy is imported until a handler runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from deepsets_trigger.config import read_yaml_mapping
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import check_file_target
from gnn_keras.tracking.builders import builder_spec
from gnn_keras.tracking.datasets import SectorGraphSpec, build_graph_file
from gnn_keras.tracking.generate import TrackGenConfig, write_event_directory
from gnn_keras.tracking.plots import plot_scan
from gnn_keras.tracking.scan import read_rows, run_scan, scan_config
from gnn_keras.tracking.trackml import find_events


def add_data_parser(data_subparsers: Any) -> None:
    """Add ``tracks`` (generate events) and ``track-graphs`` (sector-graph HDF5) under ``data``."""
    tracks = data_subparsers.add_parser(
        "tracks", help="Pythia8 events in the TrackML barrel: hits and truth as TrackML CSV files"
    )
    tracks.add_argument("--n-events", dest="n_events", type=int, required=True)
    tracks.add_argument("--out", required=True, help="output directory (event<N>-hits.csv, -truth.csv, -particles.csv)")
    tracks.add_argument("--pileup", type=float, default=0.0, help="mean number of pile-up minimum-bias collisions μ")
    tracks.add_argument("--seed", type=int, default=0)
    tracks.add_argument("--workers", type=int, help="generator processes (default: number of cores)")
    tracks.add_argument("--hard", choices=["ttbar", "dijet"], help="a hard process as the triggering collision")
    tracks.add_argument("--noise", type=float, default=0.0, help="fraction of noise hits (the TrackML subset: 0.23)")
    tracks.add_argument("--field", type=float, default=2.0, help="solenoid field [T]")
    tracks.add_argument(
        "--pt-min", dest="pt_min", type=float, default=0.1, help="particles below this pT [GeV] leave no hits"
    )
    tracks.add_argument(
        "--vertex-sigma-z", dest="vertex_sigma_z", type=float, default=5.0, help="luminous region σ_z [mm]"
    )
    tracks.set_defaults(func=cmd_data_tracks)

    graphs = data_subparsers.add_parser(
        "track-graphs", help="padded φ-sector graphs of TrackML events in one HDF5 file (GNN training data)"
    )
    graphs.add_argument("inputs", nargs="+", help="event directories and/or event*-hits.csv files")
    graphs.add_argument("--out", required=True, help="output .h5 file")
    graphs.add_argument("--builder", default="pattern", help="knn, epsilon, pattern or module_map")
    graphs.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="a builder parameter, e.g. --set k=4 or --set window=2"
    )
    graphs.add_argument("--n-max", dest="n_max", type=int, default=32, help="nodes per graph (padding)")
    graphs.add_argument("--e-max", dest="e_max", type=int, default=64, help="edges per graph (padding)")
    graphs.add_argument("--sectors", type=int, default=32, help="φ sectors per event")
    graphs.add_argument("--overflow", choices=["error", "drop"], default="error", help="a sector that does not fit")
    graphs.set_defaults(func=cmd_data_track_graphs)


def add_graphs_parser(subparsers: Any) -> None:
    """Add ``graphs``: scan graph builders over events into ``OUT/graphs.csv`` and plots."""
    graphs = subparsers.add_parser(
        "graphs", help="scan graph builders (k-NN, ε-NN, pattern, module map) over tracking events"
    )
    graphs.add_argument("inputs", nargs="+", help="event directories and/or event*-hits.csv files (TrackML layout)")
    graphs.add_argument("--config", required=True, help="GRAPHS.yaml: builders and their parameter lists")
    graphs.add_argument("--out", required=True, help="scan directory (graphs.csv, similarity.csv, plots/); resumes")
    graphs.add_argument("--workers", type=int, help="processes per row (default: number of cores)")
    graphs.set_defaults(func=cmd_graphs)


def cmd_data_tracks(args: argparse.Namespace) -> int:
    """``data tracks``: generate events into ``--out``."""

    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    cfg = TrackGenConfig(
        n_events=args.n_events,
        pileup=args.pileup,
        seed=args.seed,
        workers=workers,
        hard_process=args.hard,
        field_t=args.field,
        pt_min=args.pt_min,
        noise_fraction=args.noise,
        vertex_sigma_z=args.vertex_sigma_z,
    )
    summary = write_event_directory(cfg, Path(args.out), progress=sys.stderr.isatty())
    hits = [e["n_hits"] for e in summary["events"]]
    print(
        f"tracks: {len(hits)} events written to {args.out} ({sum(hits) / len(hits):.0f} hits per event, "
        f"μ = {args.pileup:g}) in {summary['wall_s']:.1f} s ({summary['events_per_s']} events/s)"
    )
    return 0


def _parse_params(pairs: list[str] | None) -> dict[str, Any]:
    import yaml

    params: dict[str, Any] = {}
    for text in pairs or []:
        if "=" not in text:
            raise ToolkitError(f"--set {text!r}: write KEY=VALUE, e.g. --set k=4.")
        key, value = text.split("=", 1)
        params[key.strip()] = yaml.safe_load(value)
    return params


def cmd_data_track_graphs(args: argparse.Namespace) -> int:
    """``data track-graphs``: build the padded sector graphs of events into one HDF5 file."""

    spec = SectorGraphSpec(
        builder_spec(args.builder, **_parse_params(args.set)), args.n_max, args.e_max, args.sectors, args.overflow
    )
    spec.validate()
    prefixes = find_events(args.inputs)
    check_file_target(Path(args.out))
    summary = build_graph_file(prefixes, spec, args.out, progress=sys.stderr.isatty())
    print(
        f"track-graphs: {summary['graphs']} graphs from {summary['events']} events written to {args.out} "
        f"(largest {summary['max_nodes']} nodes, {summary['max_edges']} edges; {summary['dropped_graphs']} dropped)"
    )
    return 0


def _cell(value: str) -> str:
    if value in ("", None):
        return "-"
    try:
        return f"{float(value):.3g}"
    except ValueError:
        return value


def cmd_graphs(args: argparse.Namespace) -> int:
    """``graphs``: the builder scan, its table and plots."""

    if args.workers is not None and args.workers < 1:
        raise ToolkitError(f"--workers must be positive, got {args.workers}.")
    cfg = scan_config(read_yaml_mapping(args.config, "graphs config"))
    summary = run_scan(args.inputs, cfg, args.out, workers=args.workers, progress=sys.stderr.isatty())
    rows = {r["row_id"]: r for r in read_rows(summary.out / "graphs.csv")}
    header = ("builder", "k", "epsilon", "window", "edge_efficiency", "edge_purity", "recall_vs_knn",
              "precision_vs_knn", "edges_per_event", "candidate_edges")  # fmt: skip
    print("  ".join(f"{h[:12]:>12}" for h in header))
    for spec in cfg.rows:
        row = rows[cfg.row_id(spec)]
        print("  ".join(f"{_cell(row[h]):>12}" for h in header))
    made = plot_scan(summary.out)
    print(
        f"graphs: {summary.total} rows ({summary.ran} run now, {summary.kept} kept from before) on "
        f"{summary.n_events} events in {summary.wall_s:.1f} s"
    )
    print(f"results: {summary.out / 'graphs.csv'}; plots: {', '.join(p.name for p in made)}")
    return 0
