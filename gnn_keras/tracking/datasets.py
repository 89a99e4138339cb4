"""Sector graphs as study data: train / validation / test graphs split by event.

The graphs are padded φ-sector graphs (:mod:`gnn_keras.tracking.sectors`) in one HDF5 file
(:mod:`gnn_keras.tracking.graph_file`, whose names are re-exported here); this module reads such a
file (``data: {source: graph_h5}``) or makes and caches one from generated events
(``data: {source: tracks}``), and splits it by event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deepsets_trigger.errors import ToolkitError
from gnn_keras.tracking.builders import builder_spec
from gnn_keras.tracking.graph_file import FORMAT, build_graph_file, read_graph_file, write_graph_file
from gnn_keras.tracking.sectors import FEATURE_NAMES, OVERFLOW, PT_THRESHOLDS, SectorGraphSpec, sector_graphs

if TYPE_CHECKING:
    from gnn_keras.tracking.generate import TrackGenConfig


@dataclass
class TrackGraphData:
    """Train / validation / test graphs, split by event (all sectors of an event together).

    ``x_*`` is ``[nodes (G, n_max, 3) float32, edge_index (G, e_max, 2) int32, node_mask
    (G, n_max) float32, edge_mask (G, e_max) float32]``, ``y_*`` the edge labels (G, e_max);
    ``edge_pt_test`` and ``n_true_test`` (G, T) give efficiencies at the ``pt_thresholds``;
    ``event_*`` the event index of each graph (to regroup sectors into events).
    """

    x_train: list[np.ndarray]
    y_train: np.ndarray
    x_val: list[np.ndarray]
    y_val: np.ndarray
    x_test: list[np.ndarray]
    y_test: np.ndarray
    edge_pt_test: np.ndarray
    n_true_test: np.ndarray
    event_train: np.ndarray
    event_val: np.ndarray
    event_test: np.ndarray
    pt_thresholds: tuple[float, ...]
    feature_names: tuple[str, ...]
    path: Path
    info: dict[str, Any] = field(default_factory=dict)


def split_graphs(
    arrays: dict[str, np.ndarray], test_fraction: float, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Graph indices (train, val, test), shuffled by event so no event straddles two splits.

    ``test_fraction`` 1 puts every graph in test (evaluating an existing model, ``run --model``).
    """
    if test_fraction == 1:
        everything = np.arange(len(arrays["event"]))
        return everything[:0], everything[:0], everything
    if not 0 < test_fraction < 1 or not 0 <= val_fraction < 1 or test_fraction + val_fraction >= 1:
        raise ToolkitError(
            f"test_fraction {test_fraction} and val_fraction {val_fraction} must be in [0, 1) and sum below 1."
        )
    events = np.unique(arrays["event"])
    order = np.random.default_rng(seed).permutation(events)
    n_test = max(1, int(round(len(events) * test_fraction)))
    n_val = int(round(len(events) * val_fraction))
    if len(events) - n_test - n_val < 1:
        raise ToolkitError(f"{len(events)} event(s) cannot be split into train, validation and test; add events.")
    test_ev, val_ev = order[:n_test], order[n_test : n_test + n_val]
    is_test = np.isin(arrays["event"], test_ev)
    is_val = np.isin(arrays["event"], val_ev)
    return np.flatnonzero(~is_test & ~is_val), np.flatnonzero(is_val), np.flatnonzero(is_test)


def graph_data_from_file(
    path: str | Path, test_fraction: float = 0.2, val_fraction: float = 0.1, seed: int = 0
) -> TrackGraphData:
    """``data: {source: graph_h5, path: FILE}``: a sector-graph file split by event."""
    arrays, attrs = read_graph_file(path)
    train, val, test = split_graphs(arrays, test_fraction, val_fraction, seed)

    def x(idx: np.ndarray) -> list[np.ndarray]:
        return [
            arrays["nodes"][idx].astype(np.float32),
            arrays["edge_index"][idx].astype(np.int32),
            arrays["node_mask"][idx].astype(np.float32),
            arrays["edge_mask"][idx].astype(np.float32),
        ]

    return TrackGraphData(
        x_train=x(train),
        y_train=arrays["edge_label"][train],
        x_val=x(val),
        y_val=arrays["edge_label"][val],
        x_test=x(test),
        y_test=arrays["edge_label"][test],
        edge_pt_test=arrays["edge_pt"][test],
        n_true_test=arrays["n_true"][test],
        event_train=arrays["event"][train],
        event_val=arrays["event"][val],
        event_test=arrays["event"][test],
        pt_thresholds=tuple(attrs.get("pt_thresholds", PT_THRESHOLDS)),
        feature_names=tuple(attrs.get("feature_names", FEATURE_NAMES)),
        path=Path(path),
        info={k: attrs[k] for k in ("builder", "n_max", "e_max", "n_sectors", "dropped_graphs") if k in attrs},
    )


def track_graph_data(
    n_events: int = 200,
    pileup: float = 0.0,
    seed: int = 0,
    gen_workers: int = 1,
    hard_process: str | None = None,
    noise_fraction: float = 0.0,
    field_t: float = 2.0,
    builder: str = "pattern",
    builder_params: dict[str, Any] | None = None,
    n_max: int = 32,
    e_max: int = 64,
    n_sectors: int = 32,
    overflow: str = "error",
    test_fraction: float = 0.2,
    val_fraction: float = 0.1,
    cache_dir: str | Path = "~/.cache/deepsets-trigger",
    progress: bool = False,
) -> TrackGraphData:
    """``data: {source: tracks, ...}``: generated events → sector graphs, both cached, split by event.

    Events are generated once per generator setting (``cache_dir/tracks-<hash>/``) and the graph
    file once per generator + graph setting (``cache_dir/trackgraphs-<hash>.h5``), like the Pythia
    jets. Minimum bias (μ = 0) in 32 sectors with the default pattern builder fits N_max = 32,
    E_max = 64 in 97.5 % of the sectors: pass ``overflow="drop"`` (counted in
    ``info["dropped_graphs"]``) or larger sizes for the rest.

    Args:
        n_events, pileup, seed, gen_workers, hard_process, noise_fraction, field_t: the generator
            (:class:`gnn_keras.tracking.generate.TrackGenConfig`); ``seed`` also seeds the split.
        builder, builder_params: the graph builder and its parameters (``builders.builder_spec``).
        n_max, e_max, n_sectors, overflow: the padded sector graphs (:class:`SectorGraphSpec`).
        test_fraction, val_fraction: fractions of events in the test and validation splits.
        cache_dir: where generated events and graph files are kept.
        progress: progress bars on stderr.

    Returns:
        The graphs split by event (:class:`TrackGraphData`).

    Raises:
        ToolkitError: a bad setting, or a sector that does not fit with ``overflow: error``.
    """
    from gnn_keras.tracking.generate import TrackGenConfig

    gen = TrackGenConfig(
        n_events=n_events,
        pileup=pileup,
        seed=seed,
        workers=gen_workers,
        hard_process=hard_process,
        field_t=field_t,
        noise_fraction=noise_fraction,
    )
    gen.validate()
    spec = SectorGraphSpec(builder_spec(builder, **(builder_params or {})), n_max, e_max, n_sectors, overflow)
    spec.validate()
    return graph_data_from_file(_cached_graph_file(gen, spec, cache_dir, progress), test_fraction, val_fraction, seed)


def _cached_graph_file(gen: TrackGenConfig, spec: SectorGraphSpec, cache_dir: str | Path, progress: bool) -> Path:
    """``cache_dir/trackgraphs-<hash>.h5`` of ``gen``'s events cut by ``spec``; built (events too) if absent."""
    from dataclasses import asdict

    from deepsets_trigger.config import stable_hash
    from gnn_keras.tracking.generate import event_directory
    from gnn_keras.tracking.trackml import find_events

    graph_settings = {
        "builder": spec.builder.as_dict(),
        "n_max": spec.n_max,
        "e_max": spec.e_max,
        "n_sectors": spec.n_sectors,
    }
    key = stable_hash({"gen": gen.cache_key(), **graph_settings, "overflow": spec.overflow, "format": FORMAT})
    path = Path(cache_dir).expanduser() / f"trackgraphs-{key}.h5"
    if not path.is_file():
        events = event_directory(gen, cache_dir, progress)
        build_graph_file(find_events([events]), spec, path, generation=asdict(gen), progress=progress)
    return path


__all__ = [
    "FEATURE_NAMES",
    "FORMAT",
    "OVERFLOW",
    "PT_THRESHOLDS",
    "SectorGraphSpec",
    "TrackGraphData",
    "build_graph_file",
    "graph_data_from_file",
    "read_graph_file",
    "sector_graphs",
    "split_graphs",
    "track_graph_data",
    "write_graph_file",
]
