"""``data.source: tracks | graph_h5``: sector graphs as study data (their ``data`` sections).

Both hold graphs, not sets: a graph family (the interaction network) reads them with its own
``load_data`` through :func:`track_graphs`; the core's set loader refuses them. Errors in the
settings (a builder parameter, N_max ≤ 0, a missing file) are one line, before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from deepsets_trigger.config import Config, DataConfig
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.registry import DataSource

if TYPE_CHECKING:
    from gnn_keras.tracking.datasets import TrackGraphData

# the keys of TracksData passed on to gnn_keras.tracking.datasets.track_graph_data
TRACK_KEYS = (
    "n_events",
    "pileup",
    "seed",
    "gen_workers",
    "hard_process",
    "noise_fraction",
    "field_t",
    "builder",
    "builder_params",
    "n_max",
    "e_max",
    "n_sectors",
    "overflow",
    "test_fraction",
    "val_fraction",
    "cache_dir",
)


@dataclass(frozen=True)
class TracksData(DataConfig):
    """Generated events (Pythia8 + helices in the TrackML barrel) cut into padded sector graphs, cached.

    ``n_max`` / ``e_max`` are the graphs' node and edge slots (the model's N_max, E_max); a sector
    that does not fit is an error, or with ``overflow: drop`` left out and counted.
    """

    n_events: int = 200
    pileup: float = 0.0
    gen_workers: int = 1
    hard_process: str | None = None
    noise_fraction: float = 0.0
    field_t: float = 2.0
    builder: str = "pattern"
    builder_params: dict[str, Any] | None = None
    n_max: int = 32
    e_max: int = 64
    n_sectors: int = 32
    overflow: Literal["error", "drop"] = "error"

    def validated(self, cfg: Config) -> TracksData:
        from gnn_keras.tracking.builders import builder_spec
        from gnn_keras.tracking.generate import TrackGenConfig
        from gnn_keras.tracking.sectors import SectorGraphSpec

        gen = TrackGenConfig(
            n_events=self.n_events,
            pileup=self.pileup,
            seed=self.seed,
            workers=self.gen_workers,
            hard_process=self.hard_process,
            field_t=self.field_t,
            noise_fraction=self.noise_fraction,
        )
        gen.validate()
        spec = SectorGraphSpec(
            builder_spec(self.builder, **(self.builder_params or {})),
            self.n_max,
            self.e_max,
            self.n_sectors,
            self.overflow,
        )
        spec.validate()
        _check_split(self)
        return super().validated(cfg)


@dataclass(frozen=True)
class GraphFileData(DataConfig):
    """A sector-graph HDF5 file (``deepsets-trigger graphs`` / :func:`build_graph_file` write them).

    ``n_max`` / ``e_max`` (default: the file's padding) cut the padding to the model's sizes; a
    graph with more real nodes or edges is an error.
    """

    path: str | None = None
    n_max: int | None = None
    e_max: int | None = None

    def validated(self, cfg: Config) -> GraphFileData:
        if not self.path:
            raise ToolkitError("data.source graph_h5 needs data.path: a sector-graph HDF5 file.")
        for key in ("n_max", "e_max"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ToolkitError(f"data.{key} must be a positive number of slots, got {value}.")
        _check_split(self)
        return super().validated(cfg)


def _check_split(data: DataConfig) -> None:
    """Graphs are split by event into train, validation and test (or all are test: ``test_fraction`` 1)."""
    if data.test_fraction < 1 and data.test_fraction + data.val_fraction >= 1:
        raise ToolkitError(
            f"data.test_fraction ({data.test_fraction}) + data.val_fraction ({data.val_fraction}) must be below 1: "
            "graphs are split by event into train, validation and test."
        )


def track_graphs(data: DataConfig) -> tuple[TrackGraphData, int | None, int | None]:
    """The graphs of a ``tracks`` or ``graph_h5`` section, with the requested (N_max, E_max) or None.

    Raises:
        ToolkitError: another source, or what generating / reading the graphs refuses.
    """
    import sys

    from gnn_keras.tracking.datasets import graph_data_from_file, track_graph_data

    if isinstance(data, GraphFileData):
        graphs = graph_data_from_file(data.path, data.test_fraction, data.val_fraction, data.seed)
        return graphs, data.n_max, data.e_max
    if isinstance(data, TracksData):
        settings = {key: getattr(data, key) for key in TRACK_KEYS}
        return track_graph_data(**settings, progress=sys.stderr.isatty()), data.n_max, data.e_max
    raise ToolkitError(f"data.source {data.source} holds no tracking graphs; use data.source: tracks or graph_h5.")


SOURCES = (DataSource("tracks", TracksData), DataSource("graph_h5", GraphFileData))
GRAPH_SOURCES = tuple(source.name for source in SOURCES)
