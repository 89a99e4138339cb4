"""Fixed-size sector graphs for edge-classifying GNNs, in one HDF5 file, and as study data.

The barrel is cut into ``n_sectors`` φ sectors. An edge belongs to the sector of its inner hit,
so no edge is lost at a boundary: a sector graph holds the hits of its sector plus the outer
hits of its edges that lie in the next sector ("ghost" nodes, flagged). Graphs are padded to
``n_max`` nodes and ``e_max`` edges; a sector that does not fit is an error, or with
``overflow: drop`` it is left out and counted (``dropped_graphs``).

HDF5 layout (G graphs; attributes describe the file)::

    nodes            float32 (G, n_max, 3)   r [m], Δφ to the sector centre / half-width, z [m]
    edge_index       int32   (G, e_max, 2)   (sender = inner hit, receiver = outer hit) node
                                              slots; padding rows are (0, 0)
    edge_label       float32 (G, e_max)      1 for a true edge, 0 for a fake or padding
    node_mask        uint8   (G, n_max)      1 for a real node
    edge_mask        uint8   (G, e_max)      1 for a real edge
    n_nodes, n_edges int32   (G,)
    n_true           int32   (G, T)          true edges owned by the sector (its builder's
                                              efficiency denominator) of particles with
                                              pT ≥ attrs["pt_thresholds"][t]
    edge_pt          float32 (G, e_max)      pT [GeV] of a true edge's particle, else 0
    node_hit_id      int64   (G, n_max)      TrackML hit_id (−1 padding)
    node_particle_id int64   (G, n_max)      0 for noise and padding
    node_layer       int8    (G, n_max)      barrel layer 0–9 (−1 padding)
    node_ghost       uint8   (G, n_max)      1 for an outer hit from the next sector
    event, sector    int32   (G,)            index into attrs["event_names"], φ sector
    attrs: format, feature_names, builder (JSON), n_max, e_max, n_sectors, overflow,
           dropped_graphs, pt_thresholds, event_names, generation (JSON of the generator
           settings, when generated)
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.config import stable_hash
from deepsets_trigger.errors import ToolkitError
from gnn_keras.tracking.builders import BuilderSpec, build_edges, builder_spec, train_module_map
from gnn_keras.tracking.event import Event, edge_keys
from gnn_keras.tracking.generate import TrackGenConfig, event_directory
from gnn_keras.tracking.trackml import find_events, read_event

FORMAT = 1
FEATURE_NAMES = ("r", "dphi", "z")
PT_THRESHOLDS = (0.0, 0.5, 1.0, 2.0)
OVERFLOW = ("error", "drop")
_ARRAYS = (
    "nodes",
    "edge_index",
    "edge_label",
    "node_mask",
    "edge_mask",
    "n_nodes",
    "n_edges",
    "n_true",
    "edge_pt",
    "node_hit_id",
    "node_particle_id",
    "node_layer",
    "node_ghost",
    "event",
    "sector",
)


@dataclass(frozen=True)
class SectorGraphSpec:
    """How events become padded sector graphs."""

    builder: BuilderSpec
    n_max: int = 32
    e_max: int = 64
    n_sectors: int = 32
    overflow: str = "error"

    def validate(self) -> None:
        for name in ("n_max", "e_max", "n_sectors"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ToolkitError(f"{name} must be a positive integer, got {value!r}.")
        if self.overflow not in OVERFLOW:
            raise ToolkitError(f"overflow must be one of {', '.join(OVERFLOW)}, got {self.overflow!r}.")
        if self.builder.builder == "module_map" and self.builder["train"] is None:
            raise ToolkitError(
                "a module_map graph dataset needs {builder: module_map, train: DIR} (its training events)."
            )


def _sector(phi: np.ndarray, n_sectors: int) -> np.ndarray:
    return np.floor((phi + np.pi) * n_sectors / (2 * np.pi)).astype(np.int64) % n_sectors


def sector_graphs(
    event: Event, edges: np.ndarray, spec: SectorGraphSpec
) -> tuple[list[dict[str, np.ndarray]], list[tuple[int, int, int]]]:
    """The padded graphs of one event's sectors (see the module docstring).

    Args:
        event: the hits and their truth (for the edge labels).
        edges: (E, 2) built edges, inner hit first.
        spec: padding and sectors.

    Returns:
        (graphs that fit, [(sector, n_nodes, n_edges) of those that do not]).
    """
    n = len(event)
    sector = _sector(event.phi, spec.n_sectors)
    true = edge_keys(event.true_edges, n)
    keys = edges[:, 0].astype(np.int64) * n + edges[:, 1]
    is_true = np.isin(keys, true)
    true_edges = event.true_edges
    true_sector = sector[true_edges[:, 0]]
    true_pt = event.pt[true_edges[:, 0]]
    edge_sector = sector[edges[:, 0]]
    half_width = np.pi / spec.n_sectors
    graphs, overflow = [], []
    for s in range(spec.n_sectors):  # a loop over sectors; everything inside is vectorised
        own_edges = np.flatnonzero(edge_sector == s)
        nodes = np.union1d(np.flatnonzero(sector == s), edges[own_edges, 1])
        if len(nodes) == 0:
            continue
        if len(nodes) > spec.n_max or len(own_edges) > spec.e_max:
            overflow.append((s, len(nodes), len(own_edges)))
            continue
        nodes = nodes[np.lexsort((event.phi[nodes], event.layer[nodes]))]
        slot = np.full(n, -1, dtype=np.int64)
        slot[nodes] = np.arange(len(nodes))
        centre = -np.pi + (s + 0.5) * 2 * half_width
        dphi = (event.phi[nodes] - centre + np.pi) % (2 * np.pi) - np.pi
        g: dict[str, np.ndarray] = {
            "nodes": np.zeros((spec.n_max, len(FEATURE_NAMES)), np.float32),
            "edge_index": np.zeros((spec.e_max, 2), np.int32),
            "edge_label": np.zeros(spec.e_max, np.float32),
            "node_mask": np.zeros(spec.n_max, np.uint8),
            "edge_mask": np.zeros(spec.e_max, np.uint8),
            "edge_pt": np.zeros(spec.e_max, np.float32),
            "node_hit_id": np.full(spec.n_max, -1, np.int64),
            "node_particle_id": np.zeros(spec.n_max, np.int64),
            "node_layer": np.full(spec.n_max, -1, np.int8),
            "node_ghost": np.zeros(spec.n_max, np.uint8),
        }
        k, m = len(nodes), len(own_edges)
        g["nodes"][:k] = np.stack([event.r[nodes] / 1000.0, dphi / half_width, event.z[nodes] / 1000.0], axis=1)
        g["node_mask"][:k] = 1
        g["node_hit_id"][:k] = event.hit_id[nodes]
        g["node_particle_id"][:k] = event.particle_id[nodes]
        g["node_layer"][:k] = event.layer[nodes]
        g["node_ghost"][:k] = sector[nodes] != s
        g["edge_index"][:m] = slot[edges[own_edges]]
        g["edge_label"][:m] = is_true[own_edges]
        g["edge_mask"][:m] = 1
        g["edge_pt"][:m] = np.where(is_true[own_edges], event.pt[edges[own_edges, 0]], 0.0)
        g["n_nodes"] = np.int32(k)
        g["n_edges"] = np.int32(m)
        mine = true_sector == s
        g["n_true"] = np.array([(mine & (true_pt >= t)).sum() for t in PT_THRESHOLDS], np.int32)
        g["sector"] = np.int32(s)
        graphs.append(g)
    return graphs, overflow


def build_graph_file(
    prefixes: list[Path],
    spec: SectorGraphSpec,
    path: str | Path,
    generation: dict[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Build the sector graphs of the events ``prefixes`` and write them atomically to ``path``.

    Args:
        prefixes: event prefixes (:func:`gnn_keras.tracking.trackml.find_events`).
        spec: builder and padding.
        path: the HDF5 file to write.
        generation: generator settings to record in the file's attributes.
        progress: a progress bar on stderr.

    Returns:
        A summary: graphs, dropped_graphs, largest n_nodes and n_edges seen, events.

    Raises:
        ToolkitError: bad spec or events, or a sector that does not fit with ``overflow: error``.
    """
    from tqdm.auto import tqdm

    spec.validate()
    links = None
    if spec.builder.builder == "module_map":
        keys, seen = train_module_map([read_event(p) for p in find_events([spec.builder["train"]])])
        links = keys[seen >= spec.builder["min_count"]]
    graphs: list[dict[str, np.ndarray]] = []
    names: list[str] = []
    dropped, largest = 0, [0, 0]
    for index, prefix in enumerate(tqdm(prefixes, desc="graphs", unit="ev", file=sys.stderr, disable=not progress)):
        event = read_event(prefix)
        made, too_big = sector_graphs(event, build_edges(event, spec.builder, links), spec)
        for s, n_nodes, n_edges in too_big:
            largest = [max(largest[0], n_nodes), max(largest[1], n_edges)]
            if spec.overflow == "error":
                raise ToolkitError(
                    f"{event.name} sector {s} has {n_nodes} nodes and {n_edges} edges, more than n_max={spec.n_max} "
                    f"or e_max={spec.e_max}; raise them, use more sectors, or overflow: drop."
                )
        dropped += len(too_big)
        for g in made:
            g["event"] = np.int32(index)
            largest = [max(largest[0], int(g["n_nodes"])), max(largest[1], int(g["n_edges"]))]
        graphs.extend(made)
        names.append(event.name)
    if not graphs:
        raise ToolkitError(f"no sector graph fits n_max={spec.n_max}, e_max={spec.e_max}; raise them or add sectors.")
    attrs = {
        "format": FORMAT,
        "feature_names": json.dumps(FEATURE_NAMES),
        "builder": json.dumps(spec.builder.as_dict()),
        "n_max": spec.n_max,
        "e_max": spec.e_max,
        "n_sectors": spec.n_sectors,
        "overflow": spec.overflow,
        "dropped_graphs": dropped,
        "pt_thresholds": json.dumps(PT_THRESHOLDS),
        "event_names": json.dumps(names),
        "generation": json.dumps(generation or {}),
    }
    write_graph_file(path, {k: np.stack([g[k] for g in graphs]) for k in _ARRAYS}, attrs)
    return {
        "graphs": len(graphs),
        "dropped_graphs": dropped,
        "max_nodes": largest[0],
        "max_edges": largest[1],
        "events": len(names),
    }


def write_graph_file(path: str | Path, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
    """Write the arrays (gzip) and attributes to ``path`` through a temporary file."""
    import h5py

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            for name, value in arrays.items():
                f.create_dataset(name, data=value, compression="gzip" if value.ndim > 1 else None)
            for key, value in attrs.items():
                f.attrs[key] = value
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_graph_file(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and attributes of a sector-graph file, checked for consistency.

    Raises:
        ToolkitError: not a readable HDF5 file, a dataset missing, or edge indices out of range.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ToolkitError(f"graph file {str(path)!r} does not exist.")
    try:
        with h5py.File(path, "r") as f:
            missing = [name for name in _ARRAYS if name not in f]
            if missing:
                raise ToolkitError(
                    f"{str(path)!r} lacks {', '.join(missing)}; it is not a sector-graph file "
                    "(deepsets-trigger data track-graphs writes them)."
                )
            arrays = {name: f[name][()] for name in _ARRAYS}
            attrs = {k: (json.loads(v) if k in _JSON_ATTRS else v) for k, v in f.attrs.items()}
    except OSError as exc:
        raise ToolkitError(f"cannot read {str(path)!r} as HDF5 ({exc}).") from None
    n_max = arrays["nodes"].shape[1]
    real = arrays["edge_mask"].astype(bool)
    if ((arrays["edge_index"] >= arrays["n_nodes"][:, None, None]) & real[:, :, None]).any():
        raise ToolkitError(f"{str(path)!r}: an edge index points past its graph's nodes; rebuild the file.")
    if (arrays["edge_index"] < 0).any() or (arrays["edge_index"] >= n_max).any():
        raise ToolkitError(f"{str(path)!r}: edge indices outside [0, n_max); rebuild the file.")
    return arrays, attrs


_JSON_ATTRS = {"feature_names", "builder", "pt_thresholds", "event_names", "generation"}


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
    """Graph indices (train, val, test), shuffled by event so no event straddles two splits."""
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
    from dataclasses import asdict

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
    graph_settings = {"builder": spec.builder.as_dict(), "n_max": n_max, "e_max": e_max, "n_sectors": n_sectors}
    key = stable_hash({"gen": gen.cache_key(), **graph_settings, "overflow": overflow, "format": FORMAT})
    path = Path(cache_dir).expanduser() / f"trackgraphs-{key}.h5"
    if not path.is_file():
        events = event_directory(gen, cache_dir, progress)
        build_graph_file(find_events([events]), spec, path, generation=asdict(gen), progress=progress)
    return graph_data_from_file(path, test_fraction, val_fraction, seed)
