"""The files of a scan directory, rewritten atomically as each row finishes.

``graphs.csv`` (one row per builder setting, :data:`COLUMNS`), ``similarity.csv`` (recall and
precision of each non-k-NN row against each k-NN row), ``degrees.json`` (degree histograms) and
``scan.json`` (the events and settings a resume must match).
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import write_json, write_text_atomic
from gnn_keras.tracking.builders import BuilderSpec
from gnn_keras.tracking.metrics import EdgeCounts
from gnn_keras.tracking.scan_config import ScanConfig

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


def row_record(spec: BuilderSpec, cfg: ScanConfig, counts: EdgeCounts, cost: dict[str, Any], wall: float) -> dict:
    """A row of ``graphs.csv``: the builder setting, its counts' summary, its FPGA cost, its speed."""
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


def similarity_rows(
    spec: BuilderSpec, row_id: str, similarity: dict[str, list[int]], knn_rows: dict[str, BuilderSpec], n_edges: int
) -> list[dict[str, Any]]:
    """The ``similarity.csv`` rows of a row: its recall and precision against each k-NN row."""
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


@dataclass
class ScanStore:
    """A scan directory's rows so far; :meth:`add` rewrites its files with one more row."""

    out: Path
    done: dict[str, dict[str, Any]]  # row_id → graphs.csv row
    similarity: list[dict[str, Any]]
    degrees: dict[str, Any]

    @classmethod
    def open(cls, out: Path, fingerprint: dict[str, Any], meta: dict[str, Any]) -> ScanStore:
        """Create ``out`` (or check that it holds a scan of the same events), write ``scan.json``, read its rows.

        Raises:
            ToolkitError: ``out`` is a file, a foreign non-empty directory, a scan of other events, or
                not writable.
        """
        _prepare_out(out, fingerprint)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "scan.json", {"fingerprint": fingerprint, **meta})
        degrees_path = out / "degrees.json"
        return cls(
            out,
            done={r["row_id"]: r for r in read_rows(out / "graphs.csv")},
            similarity=read_rows(out / "similarity.csv"),
            degrees=json.loads(degrees_path.read_text()) if degrees_path.is_file() else {},
        )

    def add(
        self, spec: BuilderSpec, record: dict[str, Any], similarity: list[dict[str, Any]], counts: EdgeCounts
    ) -> None:
        """Record a finished row and rewrite the files (atomically, one by one)."""
        row_id = record["row_id"]
        self.done[row_id] = record
        self.similarity = [r for r in self.similarity if r["row_id"] != row_id]  # an interrupted earlier try
        self.similarity += similarity
        self.degrees[row_id] = {
            "label": spec.label(),
            "in": counts.in_degree.tolist(),
            "out": counts.out_degree.tolist(),
        }
        # similarity and degrees first: a row present in graphs.csv is complete
        _write_csv(self.out / "similarity.csv", SIMILARITY_COLUMNS, self.similarity)
        write_json(self.out / "degrees.json", self.degrees)
        _write_csv(self.out / "graphs.csv", COLUMNS, list(self.done.values()))


__all__ = ["COLUMNS", "SIMILARITY_COLUMNS", "ScanStore", "read_rows", "row_record", "similarity_rows"]
