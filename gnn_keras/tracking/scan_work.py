"""The per-event work of a scan: events loaded once, each row's counts summed over them.

Forked workers share the loaded events and their k-NN neighbour tables through this module's
globals (filled before the row pool forks, so they are never pickled to it); each task carries its row.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

import numpy as np

from gnn_keras.tracking.builders import (
    BuilderSpec,
    build_edges,
    builder_spec,
    edges_from_neighbours,
    embed,
    knn_neighbours,
)
from gnn_keras.tracking.event import Event, edge_keys
from gnn_keras.tracking.metrics import EdgeCounts, edge_counts
from gnn_keras.tracking.scan_config import ScanConfig
from gnn_keras.tracking.sensors import link_matrix, pairs_on_links, sensor_links
from gnn_keras.tracking.trackml import read_event

_EVENTS: list[Event] = []
_TABLES: list[dict[BuilderSpec, np.ndarray]] = []  # per event: k-NN neighbour table of each group


def knn_groups(cfg: ScanConfig) -> dict[BuilderSpec, int]:
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


def load_events(prefixes: list[Path], groups: dict[BuilderSpec, int], workers: int) -> list[Event]:
    """Load the events of ``prefixes`` and their k-NN tables into this module (for the row workers)."""
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
    return _EVENTS


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


def row_state(
    spec: BuilderSpec,
    cfg: ScanConfig,
    trained: dict[Any, tuple[np.ndarray, np.ndarray]],
    knn_rows: dict[str, BuilderSpec],
) -> dict[str, Any]:
    """What a row's tasks carry: its builder, the module links it keeps, its sensor links, the k-NN rows."""
    module_links = None
    if spec.builder == "module_map":
        keys, seen = trained[spec["train"]]
        module_links = keys[seen >= spec["min_count"]]
    return {
        "spec": spec,
        "reference": cfg.reference,
        "pt_min": cfg.pt_min,
        "module_links": module_links,
        "links": sensor_links(spec, module_links),
        "knn_rows": {} if spec.builder == "knn" else knn_rows,
    }


def run_row(state: dict[str, Any], indices: list[int], pool: Any, workers: int) -> tuple[EdgeCounts, dict, float]:
    """Counts, k-NN similarity and build time of a row over the events ``indices`` (split over ``pool``)."""
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


def clear_events() -> None:
    """Drop the loaded events and tables (the scan is over)."""
    global _EVENTS, _TABLES
    _EVENTS, _TABLES = [], []
