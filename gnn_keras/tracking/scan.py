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

This module runs the rows; :mod:`.scan_config` validates ``GRAPHS.yaml``, :mod:`.scan_work` loads
the events and counts a row over them in forked workers, :mod:`.scan_store` keeps the files.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.errors import ToolkitError
from gnn_keras.tracking.builders import BuilderSpec, train_module_map
from gnn_keras.tracking.event import Event
from gnn_keras.tracking.metrics import EdgeCounts, static_cost
from gnn_keras.tracking.scan_config import ScanConfig, scan_config
from gnn_keras.tracking.scan_store import (
    COLUMNS,
    SIMILARITY_COLUMNS,
    ScanStore,
    read_rows,
    row_record,
    similarity_rows,
)
from gnn_keras.tracking.scan_work import clear_events, knn_groups, load_events, row_state, run_row
from gnn_keras.tracking.trackml import find_events, read_event


@dataclass
class ScanSummary:
    """What :func:`run_scan` did: rows in all, run now, kept from before, wall time, events measured."""

    out: Path
    total: int
    ran: int
    kept: int
    wall_s: float
    n_events: int


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


def _measure_row(
    spec: BuilderSpec,
    cfg: ScanConfig,
    trained: dict[Any, tuple[np.ndarray, np.ndarray]],
    knn_rows: dict[str, BuilderSpec],
    evaluate: list[int],
    pool: Any,
    workers: int,
) -> tuple[dict[str, Any], list[dict[str, Any]], EdgeCounts]:
    """One builder setting on the ``evaluate`` events: its ``graphs.csv`` row, similarity rows and counts."""
    state = row_state(spec, cfg, trained, knn_rows)
    row_start = time.perf_counter()
    counts, similarity, build_s = run_row(state, evaluate, pool, workers)
    cost = static_cost(state["links"], cfg.sectors) if state["links"] is not None else {}
    record = row_record(spec, cfg, counts, cost, time.perf_counter() - row_start)
    record["build_ms_per_event"] = 1000 * build_s / max(len(evaluate), 1)
    return record, similarity_rows(spec, record["row_id"], similarity, knn_rows, counts.n_edges), counts


def _fingerprint(events: list[Event], n_train: int) -> dict[str, Any]:
    """What a resumed scan must share with this one: its training and evaluation events."""
    return {
        "train": [e.name for e in events[:n_train]],
        "evaluate": [e.name for e in events[n_train:]],
        "n_hits": [len(e) for e in events],
    }


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

    start = time.perf_counter()
    out = Path(out)
    workers = workers or (os.cpu_count() or 1)
    prefixes = find_events(inputs)
    n_train = _n_train(cfg, len(prefixes))
    pool = None
    try:
        events = load_events(prefixes, knn_groups(cfg), workers)
        evaluate = list(range(n_train, len(events)))
        fingerprint = _fingerprint(events, n_train)
        trained = _module_maps(cfg, events[:n_train])
        store = ScanStore.open(out, fingerprint, {"config": cfg.raw, "inputs": list(map(str, prefixes))})
        knn_rows = {cfg.row_id(r): r for r in cfg.rows if r.builder == "knn"}
        ran = 0
        bar = tqdm(total=len(cfg.rows), desc="graphs", unit="row", file=sys.stderr, disable=not progress)
        if workers > 1 and len(evaluate) > 1:  # forked after loading: the events are shared, never pickled
            pool = multiprocessing.get_context("fork").Pool(workers)
        for spec in cfg.rows:
            if cfg.row_id(spec) not in store.done:  # a resumed scan keeps its finished rows
                store.add(spec, *_measure_row(spec, cfg, trained, knn_rows, evaluate, pool, workers))
                ran += 1
            bar.update(1)
        bar.close()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        clear_events()
    return ScanSummary(out, len(cfg.rows), ran, len(cfg.rows) - ran, time.perf_counter() - start, len(evaluate))


__all__ = ["COLUMNS", "SIMILARITY_COLUMNS", "ScanConfig", "ScanSummary", "read_rows", "run_scan", "scan_config"]
