"""The results store: ``DIR/results.sqlite`` is the source of truth of a study.

One row per point keyed by the stable hash of its resolved config; status ``queued |
running | ok | failed``; one transaction per finished point, written by the study's client
process alone. ``results.csv`` is an export of it with the contract columns.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import finite, write_text_atomic
from deepsets_trigger.record import BY_NAME, CSV_COLUMNS, FIELDS

__all__ = ["CSV_COLUMNS", "ResultStore", "load_results"]

SCHEMA_VERSION = 1

_TEXT = {f.name for f in FIELDS if f.kind == "text"}
_STORED = tuple(c for c in CSV_COLUMNS if c not in ("point_id", "status"))  # the record's CSV fields, as columns


class ResultStore:
    """SQLite store of one study directory."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = Path(path)
        exists = self.path.exists()
        try:
            uri = f"file:{self.path.absolute()}{'?mode=ro' if readonly else ''}"
            self.db = sqlite3.connect(uri, timeout=30, uri=True)
            if exists:
                self._check_version()
                if not readonly:
                    self._add_new_columns()
            else:
                self._create()
        except sqlite3.DatabaseError as exc:
            raise ToolkitError(
                f"{self.path} is not a results store ({exc}: damaged, or not written by deepsets-trigger); "
                "use a new --out."
            ) from None

    @classmethod
    def check(cls, path: Path, study_hash: str) -> None:
        """Validate an existing store for ``study_hash`` without writing to it (before the study locks it)."""
        if not Path(path).exists():
            return
        store = cls(Path(path), readonly=True)
        try:
            store.claim(study_hash, write=False)
        finally:
            store.close()

    def claim(self, study_hash: str, write: bool = True) -> None:
        """Tie the store to the study config that created it; a resume with another config is refused."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'study_hash'").fetchone()
        if row is not None and row[0] != study_hash:
            raise ToolkitError(
                f"--resume: the config (with its --set options) differs from the one this study was started with "
                f"(hash {study_hash} vs {row[0]}); resume with the same config, or start the changed study in a "
                "new --out."
            )
        if row is None and write:
            with self.db:
                self.db.execute("INSERT INTO meta VALUES ('study_hash', ?)", (study_hash,))

    def _create(self) -> None:
        columns = ", ".join(f"{c} {_sql_type(c)}" for c in _STORED)
        with self.db:
            self.db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            self.db.execute(
                "CREATE TABLE points (point_id TEXT PRIMARY KEY, seq INTEGER, status TEXT NOT NULL, "
                f"assignment TEXT, config TEXT, train_hash TEXT, {columns}, result TEXT, "
                "updated REAL DEFAULT (julianday('now')))"
            )

    def _add_new_columns(self) -> None:
        """A store written before a CSV column existed gets it (empty for its earlier points)."""
        present = {row[1] for row in self.db.execute("PRAGMA table_info(points)")}
        with self.db:
            for column in (c for c in _STORED if c not in present):
                self.db.execute(f"ALTER TABLE points ADD COLUMN {column} {_sql_type(column)}")

    def _check_version(self) -> None:
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.OperationalError:  # an SQLite file, but no meta table
            raise ToolkitError(
                f"{self.path} is an SQLite database but not a deepsets-trigger results store; use a new --out."
            ) from None
        found = row[0] if row else "none"
        if found != str(SCHEMA_VERSION):
            raise ToolkitError(
                f"{self.path} was written by an incompatible version of deepsets-trigger (store schema {found}, "
                f"this version reads {SCHEMA_VERSION}); use a new --out, or continue it with the version that wrote it."
            )

    def add_points(self, points: Iterable[Any]) -> int:
        """Insert new points as ``queued`` (existing ones keep their state); return how many were new."""
        with self.db:
            seq = self.db.execute("SELECT COALESCE(MAX(seq), -1) FROM points").fetchone()[0]
            added = 0
            for point in points:
                seq += 1
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO points (point_id, seq, status, assignment, config, train_hash) "
                    "VALUES (?, ?, 'queued', ?, ?, ?)",
                    (
                        point.point_id,
                        seq,
                        json.dumps(point.assignment, sort_keys=True, default=str),
                        json.dumps(point.config.to_dict() if point.config else None, default=str),
                        point.train_hash,
                    ),
                )
                added += cur.rowcount
        return added

    def statuses(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT point_id, status FROM points"))

    def set_status(self, point_ids: Iterable[str], status: str) -> None:
        with self.db:
            self.db.executemany(
                "UPDATE points SET status = ?, updated = julianday('now') WHERE point_id = ?",
                [(status, pid) for pid in point_ids],
            )

    def requeue(self, statuses: tuple[str, ...]) -> None:
        """Points left ``running`` by an interrupted run (or ``failed``, to retry) go back to ``queued``."""
        marks = ",".join("?" * len(statuses))
        with self.db:
            self.db.execute(f"UPDATE points SET status = 'queued' WHERE status IN ({marks})", statuses)

    def finish(self, point_id: str, result: dict[str, Any]) -> None:
        """Record a finished point (ok or failed) in one transaction."""
        result = finite(result)
        sets = ", ".join(f"{c} = ?" for c in _STORED)
        with self.db:
            self.db.execute(
                f"UPDATE points SET status = ?, result = ?, {sets}, updated = julianday('now') WHERE point_id = ?",
                [
                    result.get("status", "failed"),
                    json.dumps(result, default=str, allow_nan=False),
                    *(BY_NAME[c].value(result) for c in _STORED),
                    point_id,
                ],
            )

    def rows(self) -> list[dict[str, Any]]:
        """Every point in grid order with the CSV columns."""
        cur = self.db.execute(f"SELECT {', '.join(CSV_COLUMNS)} FROM points ORDER BY seq")
        return [dict(zip(CSV_COLUMNS, row, strict=True)) for row in cur]

    def results(self) -> list[dict[str, Any]]:
        """The full ``result.json`` payloads of finished points, in grid order."""
        cur = self.db.execute("SELECT result FROM points WHERE result IS NOT NULL ORDER BY seq")
        return [json.loads(r[0]) for r in cur]

    def export_csv(self, path: Path) -> None:
        """Write ``results.csv`` atomically (temporary name, then rename)."""

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.rows():
            writer.writerow({k: _csv_value(v) for k, v in row.items()})
        write_text_atomic(Path(path), buffer.getvalue())

    def close(self) -> None:
        self.db.close()


def _sql_type(column: str) -> str:
    return "TEXT" if column in _TEXT else "REAL"


def _csv_value(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return "" if value is None else value


def load_results(study_dir: str | Path) -> Any:
    """The study's results as a pandas DataFrame (the CSV columns, one row per point)."""
    import pandas as pd

    path = Path(study_dir) / "results.sqlite"
    if not path.is_file():
        raise ToolkitError(f"{study_dir} holds no results.sqlite; pass a study output directory.")
    store = ResultStore(path)
    try:
        return pd.DataFrame(store.rows(), columns=list(CSV_COLUMNS))
    finally:
        store.close()
