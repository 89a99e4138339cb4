"""The HDF5 file of padded sector graphs (:mod:`gnn_keras.tracking.sectors`): built, written, read.

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
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.errors import ToolkitError
from gnn_keras.tracking.builders import build_edges, train_module_map
from gnn_keras.tracking.sectors import FEATURE_NAMES, PT_THRESHOLDS, SectorGraphSpec, sector_graphs

FORMAT = 1
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
_JSON_ATTRS = {"feature_names", "builder", "pt_thresholds", "event_names", "generation"}


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
    spec.validate()
    graphs, names, dropped, largest = _event_graphs(prefixes, spec, _module_links(spec), progress)
    if not graphs:
        raise ToolkitError(f"no sector graph fits n_max={spec.n_max}, e_max={spec.e_max}; raise them or add sectors.")
    write_graph_file(
        path, {k: np.stack([g[k] for g in graphs]) for k in _ARRAYS}, _attrs(spec, dropped, names, generation)
    )
    return {
        "graphs": len(graphs),
        "dropped_graphs": dropped,
        "max_nodes": largest[0],
        "max_edges": largest[1],
        "events": len(names),
    }


def _module_links(spec: SectorGraphSpec) -> np.ndarray | None:
    """The module-map links a ``module_map`` builder keeps (trained on its ``train`` events), else None."""
    from gnn_keras.tracking.trackml import find_events, read_event

    if spec.builder.builder != "module_map":
        return None
    keys, seen = train_module_map([read_event(p) for p in find_events([spec.builder["train"]])])
    return keys[seen >= spec.builder["min_count"]]


def _event_graphs(
    prefixes: list[Path], spec: SectorGraphSpec, links: np.ndarray | None, progress: bool
) -> tuple[list[dict[str, np.ndarray]], list[str], int, list[int]]:
    """(graphs of every event, event names, dropped graphs, [largest n_nodes, n_edges] seen).

    Raises:
        ToolkitError: a sector that does not fit with ``overflow: error``.
    """
    from tqdm.auto import tqdm

    from gnn_keras.tracking.trackml import read_event

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
    return graphs, names, dropped, largest


def _attrs(spec: SectorGraphSpec, dropped: int, names: list[str], generation: dict[str, Any] | None) -> dict[str, Any]:
    """The file's attributes (see the module docstring)."""
    return {
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


__all__ = ["FORMAT", "build_graph_file", "read_graph_file", "write_graph_file"]
