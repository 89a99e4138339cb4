"""``deepsets-trigger graphs``: scan graph-builder parameters over events, one resumable row each.

``GRAPHS.yaml``::

    builders:                       # each entry: a builder and its parameters, lists are scanned
      - {builder: knn, k: [2, 4, 6, 8]}
      - {builder: epsilon, epsilon: [20, 40, 80]}      # mm (in the default η-φ space: 0.02 … 0.08)
      - {builder: pattern, window: [0.5, 1, 2]}
      - {builder: module_map}                          # trained on the first train_fraction of the events
    reference: {builder: knn, k: 4}  # the k-NN graph recall/precision are measured against
    pt_min: 0.0                      # GeV: efficiency counts true edges of particles above it
    sectors: 16                      # φ sectors for the per-sector FPGA cost
    train_fraction: 0.5              # module_map without ``train: PATH`` learns from these events

``OUT/graphs.csv`` gets one row per builder setting as it finishes (rewritten atomically); a
rerun keeps finished rows and runs the rest. Every row is measured on the same events: all of
them, or those after the module map's training events. ``OUT/similarity.csv`` holds recall and
precision of every non-k-NN row against every k-NN row (the k × ε heat maps), ``degrees.json``
the degree histograms, ``scan.json`` the events and settings a resume must match.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.config import stable_hash
from deepsets_trigger.data.arrays import as_list
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import write_json, write_text_atomic
from gnn_keras.tracking.builders import (
    BuilderSpec,
    build_edges,
    builder_spec,
    edges_from_neighbours,
    embed,
    knn_neighbours,
    train_module_map,
)
from gnn_keras.tracking.event import Event, edge_keys
from gnn_keras.tracking.metrics import EdgeCounts, edge_counts, static_cost
from gnn_keras.tracking.sensors import link_matrix, pairs_on_links, sensor_links
from gnn_keras.tracking.trackml import find_events, read_event

COLUMNS = (
    "row_id",
    "builder",
    "k",
    "epsilon",
    "window",
    "space",
    "max_gap",
    "dphi_dr",
    "z0_max",
    "min_count",
    "edge_efficiency",
    "edge_purity",
    "recall_vs_knn",
    "precision_vs_knn",
    "edges_per_event",
    "nodes_per_event",
    "true_edges_per_event",
    "mean_degree",
    "max_in_degree",
    "max_out_degree",
    "candidate_edges",
    "candidate_edges_total",
    "fan_in_mean",
    "fan_in_max",
    "fan_out_mean",
    "fan_out_max",
    "pairs_examined_per_event",
    "pt_min",
    "n_events",
    "build_ms_per_event",
    "events_per_s",
)
SIMILARITY_COLUMNS = ("row_id", "builder", "epsilon", "window", "min_count", "k", "recall", "precision")
_SCAN_KEYS = {"builders", "reference", "pt_min", "sectors", "train_fraction"}


@dataclass
class ScanConfig:
    """A validated ``GRAPHS.yaml``."""

    rows: list[BuilderSpec]
    reference: BuilderSpec
    pt_min: float = 0.0
    sectors: int = 16
    train_fraction: float = 0.5
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_training(self) -> bool:
        return any(r.builder == "module_map" and r["train"] is None for r in self.rows)

    def row_id(self, spec: BuilderSpec) -> str:

        return stable_hash(
            {
                "spec": spec.as_dict(),
                "reference": self.reference.as_dict(),
                "pt_min": self.pt_min,
                "sectors": self.sectors,
            }
        )


def scan_config(raw: Any) -> ScanConfig:
    """Validate a ``GRAPHS.yaml`` mapping (see the module docstring).

    Raises:
        ToolkitError: unknown keys or builders, bad parameter values (k ≤ 0, ε ≤ 0, …).
    """
    if not isinstance(raw, dict):
        raise ToolkitError("GRAPHS.yaml must be a mapping with a 'builders' list.")
    unknown = sorted(set(raw) - _SCAN_KEYS)
    if unknown:
        raise ToolkitError(f"GRAPHS.yaml: unknown key {unknown[0]!r}; the keys are {', '.join(sorted(_SCAN_KEYS))}.")
    entries = raw.get("builders")
    if not isinstance(entries, list) or not entries:
        raise ToolkitError(
            "GRAPHS.yaml needs 'builders:', a list such as [{builder: knn, k: [2, 4]}, {builder: pattern}]."
        )
    rows: list[BuilderSpec] = []
    for entry in entries:
        if not isinstance(entry, dict) or "builder" not in entry:
            raise ToolkitError(f"GRAPHS.yaml builders: each entry is a mapping with a 'builder' name, got {entry!r}.")
        name = entry["builder"]
        params = {k: as_list(v) for k, v in entry.items() if k != "builder"}
        if any(len(v) == 0 for v in params.values()):
            raise ToolkitError(f"GRAPHS.yaml builder {name}: a parameter list is empty; give at least one value.")
        for combo in itertools.product(*params.values()):
            spec = builder_spec(name, **dict(zip(params, combo, strict=True)))
            if spec not in rows:
                rows.append(spec)
    ref_raw = raw.get("reference", {"builder": "knn", "k": 4})
    if not isinstance(ref_raw, dict) or ref_raw.get("builder", "knn") != "knn":
        raise ToolkitError("GRAPHS.yaml reference: must be a k-NN graph, e.g. {builder: knn, k: 4}.")
    reference = builder_spec("knn", **{k: v for k, v in ref_raw.items() if k != "builder"})
    pt_min = raw.get("pt_min", 0.0)
    if isinstance(pt_min, bool) or not isinstance(pt_min, (int, float)) or pt_min < 0:
        raise ToolkitError(f"GRAPHS.yaml pt_min must be a number ≥ 0 (GeV), got {pt_min!r}.")
    sectors = raw.get("sectors", 16)
    if isinstance(sectors, bool) or not isinstance(sectors, int) or sectors < 1:
        raise ToolkitError(f"GRAPHS.yaml sectors must be a positive integer, got {sectors!r}.")
    fraction = raw.get("train_fraction", 0.5)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ToolkitError(f"GRAPHS.yaml train_fraction must be in (0, 1), got {fraction!r}.")
    for spec in rows:
        if spec.builder == "module_map" and spec["train"] is not None:
            find_events([spec["train"]])  # a bad path fails before anything is written
    return ScanConfig(rows, reference, float(pt_min), sectors, float(fraction), raw)


# ---------------------------------------------------------------------------------------------
# per-event work: forked workers share the loaded events and k-NN tables (module globals);
# each task carries its row

_EVENTS: list[Event] = []
_TABLES: list[dict[BuilderSpec, np.ndarray]] = []  # per event: k-NN neighbour table of each group


def _knn_groups(cfg: ScanConfig) -> dict[BuilderSpec, int]:
    """k-NN settings that share a neighbour table (same space and gap) → the largest k needed."""
    groups: dict[BuilderSpec, int] = {}
    for spec in [cfg.reference, *[r for r in cfg.rows if r.builder == "knn"]]:
        base = _group_of(spec)
        groups[base] = max(groups.get(base, 0), spec["k"])
    return groups


def _group_of(spec: BuilderSpec) -> BuilderSpec:
    return builder_spec("knn", **{**dict(spec.params), "k": 1})


def _load_work(job: tuple[list[Path], dict[BuilderSpec, int]]) -> list[tuple[Event, dict[BuilderSpec, np.ndarray]]]:
    """Read events, fill their cached truth, and compute their k-NN tables (once for all rows)."""
    prefixes, groups = job
    out = []
    for prefix in prefixes:
        event = read_event(prefix)
        for name in ("true_edges", "pt", "module", "r", "phi", "eta"):
            getattr(event, name)  # cached on the object: pickled back and shared by every row
        tables = {}
        for group, k_max in groups.items():
            coords, box = embed(event, group)
            tables[group] = knn_neighbours(coords, event.layer, k_max, group["max_gap"], box).astype(np.int32)
        out.append((event, tables))
    return out


def _load(prefixes: list[Path], groups: dict[BuilderSpec, int], workers: int) -> None:
    global _EVENTS, _TABLES
    chunks = [list(c) for c in np.array_split(np.array(prefixes, dtype=object), min(len(prefixes), workers * 4))]
    jobs = [(c, groups) for c in chunks if c]
    if workers <= 1 or len(prefixes) < 2:
        parts = [_load_work(job) for job in jobs]
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_load_work, jobs)
    loaded = [item for part in parts for item in part]
    _EVENTS = [event for event, _ in loaded]
    _TABLES = [tables for _, tables in loaded]


def _row_work(job: tuple[dict[str, Any], list[int]]) -> tuple[EdgeCounts, dict[str, list[int]], float]:
    """Counts of one row over some events (``_EVENTS[i]`` for i in the job's indices)."""
    state, indices = job
    spec: BuilderSpec = state["spec"]
    ref: BuilderSpec = state["reference"]
    matrix = link_matrix(state["links"]) if state["links"] is not None else None
    counts = EdgeCounts()
    similarity = {row_id: [0, 0] for row_id in state["knn_rows"]}  # common, |E_k|
    build_s = 0.0
    for i in indices:
        event, tables = _EVENTS[i], _TABLES[i]
        start = time.perf_counter()
        if spec.builder == "knn":  # from the shared neighbour table: the same edges, built once
            edges = edges_from_neighbours(tables[_group_of(spec)], event.layer, spec["k"])
        else:
            edges = build_edges(event, spec, state["module_links"])
        build_s += time.perf_counter() - start
        reference = edges_from_neighbours(tables[_group_of(ref)], event.layer, ref["k"])
        pairs = pairs_on_links(event.module, matrix) if matrix is not None else 0
        counts = counts + edge_counts(event, edges, state["pt_min"], reference, pairs)
        if state["knn_rows"]:
            mine = edge_keys(edges, len(event))
            for row_id, knn_spec in state["knn_rows"].items():
                knn = edges_from_neighbours(tables[_group_of(knn_spec)], event.layer, knn_spec["k"])
                theirs = edge_keys(knn, len(event))
                similarity[row_id][0] += len(np.intersect1d(mine, theirs, assume_unique=True))
                similarity[row_id][1] += len(theirs)
    return counts, similarity, build_s


def _run_row(state: dict[str, Any], indices: list[int], pool: Any, workers: int) -> tuple[EdgeCounts, dict, float]:
    if pool is None:
        return _row_work((state, indices))
    chunks = [c.tolist() for c in np.array_split(np.array(indices), workers) if len(c)]
    parts = pool.map(_row_work, [(state, chunk) for chunk in chunks])
    counts = EdgeCounts()
    similarity = {row_id: [0, 0] for row_id in state["knn_rows"]}
    build_s = 0.0
    for c, s, b in parts:
        counts = counts + c
        build_s += b
        for row_id, (common, total) in s.items():
            similarity[row_id][0] += common
            similarity[row_id][1] += total
    return counts, similarity, build_s


# ---------------------------------------------------------------------------------------------
# the store


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_fmt(row.get(c)) for c in columns])
    write_text_atomic(path, buffer.getvalue())


def read_rows(path: str | Path) -> list[dict[str, str]]:
    """The rows of a ``graphs.csv`` (or ``similarity.csv``) as strings; [] when absent."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@dataclass
class ScanSummary:
    out: Path
    total: int
    ran: int
    kept: int
    wall_s: float
    n_events: int


def _row_record(spec: BuilderSpec, cfg: ScanConfig, counts: EdgeCounts, cost: dict[str, Any], wall: float) -> dict:
    params = dict(spec.params)
    record: dict[str, Any] = {"row_id": cfg.row_id(spec), "builder": spec.builder}
    for name in ("k", "epsilon", "window", "space", "max_gap", "dphi_dr", "z0_max", "min_count"):
        record[name] = params.get(name)
    if spec.builder == "pattern":  # the windows actually applied
        record["dphi_dr"] = spec["window"] * spec["dphi_dr"]
        record["z0_max"] = spec["window"] * spec["z0_max"]
    record.update(counts.summary())
    record.update(cost)
    record["pt_min"] = cfg.pt_min
    record["n_events"] = counts.n_events
    record["events_per_s"] = counts.n_events / wall if wall > 0 else None
    return record


def _prepare_out(out: Path, fingerprint: dict[str, Any]) -> None:
    """Create ``out`` or check that it holds a scan over the same events."""
    if out.exists() and not out.is_dir():
        raise ToolkitError(f"--out {str(out)!r} is a file; give a directory.")
    marker = out / "scan.json"
    if out.is_dir() and any(out.iterdir()):
        if not marker.is_file():
            raise ToolkitError(
                f"--out {str(out)!r} is not empty and holds no scan.json; choose a new directory "
                "(a scan resumes in its own)."
            )
        before = json.loads(marker.read_text())
        if before.get("fingerprint") != fingerprint:
            raise ToolkitError(
                f"--out {str(out)!r} holds a scan over other events or another training split; "
                "choose a new --out to scan these."
            )
    parent = out.resolve().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ToolkitError(f"--out {str(out)!r}: {str(parent)!r} is not a writable directory.")


def _n_train(cfg: ScanConfig, n_events: int) -> int:
    """Events reserved to train module maps (the first ones); 0 when no row needs them."""
    if not cfg.needs_training:
        return 0
    if n_events < 2:
        raise ToolkitError(
            "module_map needs training events: give at least 2 events (the first train_fraction train it), "
            "or {builder: module_map, train: DIR} with separate events."
        )
    return min(n_events - 1, max(1, math.floor(cfg.train_fraction * n_events)))


def _module_maps(cfg: ScanConfig, train_events: list[Event]) -> dict[Any, tuple[np.ndarray, np.ndarray]]:
    """Trained (links, times seen) per training source (None: the scan's own first events)."""
    trained: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
    for spec in cfg.rows:
        source = spec["train"] if spec.builder == "module_map" else None
        if spec.builder == "module_map" and source not in trained:
            events = train_events if source is None else [read_event(p) for p in find_events([source])]
            trained[source] = train_module_map(events)
    return trained


def _similarity_rows(
    spec: BuilderSpec, row_id: str, similarity: dict[str, list[int]], knn_rows: dict[str, BuilderSpec], n_edges: int
) -> list[dict[str, Any]]:
    params = dict(spec.params)
    return [
        {
            "row_id": row_id,
            "builder": spec.builder,
            "epsilon": params.get("epsilon"),
            "window": params.get("window"),
            "min_count": params.get("min_count"),
            "k": knn_rows[knn_id]["k"],
            "recall": common / total if total else None,
            "precision": common / n_edges if n_edges else None,
        }
        for knn_id, (common, total) in similarity.items()
    ]


def run_scan(
    inputs: list[str | Path],
    cfg: ScanConfig,
    out: str | Path,
    workers: int | None = None,
    progress: bool = False,
) -> ScanSummary:
    """Measure every builder setting of ``cfg`` on the events of ``inputs`` into ``out``.

    Args:
        inputs: directories of TrackML events and/or ``*-hits.csv`` files.
        cfg: from :func:`scan_config`.
        out: the scan directory (created; a previous scan of the same events is resumed).
        workers: processes for the events of a row (default: the number of cores).
        progress: a progress bar over rows on stderr.

    Raises:
        ToolkitError: bad inputs (missing columns, empty events, …), found before ``out`` is touched.
    """
    from tqdm.auto import tqdm

    global _EVENTS, _TABLES
    start = time.perf_counter()
    out = Path(out)
    workers = workers or (os.cpu_count() or 1)
    prefixes = find_events(inputs)
    n_train = _n_train(cfg, len(prefixes))
    pool = None
    try:
        _load(prefixes, _knn_groups(cfg), workers)
        evaluate = list(range(n_train, len(_EVENTS)))
        fingerprint = {
            "train": [e.name for e in _EVENTS[:n_train]],
            "evaluate": [e.name for e in _EVENTS[n_train:]],
            "n_hits": [len(e) for e in _EVENTS],
        }
        trained = _module_maps(cfg, _EVENTS[:n_train])
        _prepare_out(out, fingerprint)
        out.mkdir(parents=True, exist_ok=True)
        write_json(
            out / "scan.json", {"fingerprint": fingerprint, "config": cfg.raw, "inputs": list(map(str, prefixes))}
        )
        done = {r["row_id"]: r for r in read_rows(out / "graphs.csv")}
        similarity_rows = read_rows(out / "similarity.csv")
        degrees_path = out / "degrees.json"
        degrees = json.loads(degrees_path.read_text()) if degrees_path.is_file() else {}
        knn_rows = {cfg.row_id(r): r for r in cfg.rows if r.builder == "knn"}
        ran = 0
        bar = tqdm(total=len(cfg.rows), desc="graphs", unit="row", file=sys.stderr, disable=not progress)
        if workers > 1 and len(evaluate) > 1:  # forked after loading: the events are shared, never pickled
            pool = multiprocessing.get_context("fork").Pool(workers)
        for spec in cfg.rows:
            row_id = cfg.row_id(spec)
            if row_id in done:
                bar.update(1)
                continue
            module_links = None
            if spec.builder == "module_map":
                keys, seen = trained[spec["train"]]
                module_links = keys[seen >= spec["min_count"]]
            links = sensor_links(spec, module_links)
            state = {
                "spec": spec,
                "reference": cfg.reference,
                "pt_min": cfg.pt_min,
                "module_links": module_links,
                "links": links,
                "knn_rows": {} if spec.builder == "knn" else knn_rows,
            }
            row_start = time.perf_counter()
            counts, similarity, build_s = _run_row(state, evaluate, pool, workers)
            cost = static_cost(links, cfg.sectors) if links is not None else {}
            record = _row_record(spec, cfg, counts, cost, time.perf_counter() - row_start)
            record["build_ms_per_event"] = 1000 * build_s / max(len(evaluate), 1)
            done[row_id] = record
            similarity_rows = [r for r in similarity_rows if r["row_id"] != row_id]  # an interrupted earlier try
            similarity_rows += _similarity_rows(spec, row_id, similarity, knn_rows, counts.n_edges)
            degrees[row_id] = {
                "label": spec.label(),
                "in": counts.in_degree.tolist(),
                "out": counts.out_degree.tolist(),
            }
            # similarity and degrees first: a row present in graphs.csv is complete
            _write_csv(out / "similarity.csv", SIMILARITY_COLUMNS, similarity_rows)
            write_json(degrees_path, degrees)
            _write_csv(out / "graphs.csv", COLUMNS, list(done.values()))
            ran += 1
            bar.update(1)
        bar.close()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        _EVENTS, _TABLES = [], []
    return ScanSummary(out, len(cfg.rows), ran, len(cfg.rows) - ran, time.perf_counter() - start, len(evaluate))


__all__ = ["COLUMNS", "ScanConfig", "ScanSummary", "read_rows", "run_scan", "scan_config"]
