"""Grid studies: expand → store → schedule groups in isolated workers → record → export.

:func:`run_study` is the ``study`` command. A point never knows it is part of a study: the
study hands each one a config, an output directory and the shared model cache
(``DIR/models/<train hash>``). Points that share a trained model form a group (:mod:`.groups`)
run by one worker: one float training serves every PTQ precision of its architecture, one QAT
training each bit configuration, and the firmware twin, once verified against the C++ on two of
the group's points, serves the others without a compile.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepsets_trigger.config import stable_hash
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import check_writable_parent, remove_stale_partials
from deepsets_trigger.study.grid import Point, expand
from deepsets_trigger.study.groups import Group, Task, plan_groups
from deepsets_trigger.study.lock import study_lock
from deepsets_trigger.study.runner import Hooks, connect_dask, failed, run_dask, run_local
from deepsets_trigger.study.store import CSV_COLUMNS, ResultStore, load_results

__all__ = ["CSV_COLUMNS", "StudySummary", "expand", "load_results", "run_study"]


@dataclass
class StudySummary:
    """What a study run did."""

    total: int
    ok: int
    failed: int
    ran: int
    skipped: int  # finished before this run and kept
    wall_s: float
    out: Path
    invalid: int = 0  # grid values invalid for their point (failed rows without a run)


class _Progress:
    def __init__(self, total: int, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc="study", unit="pt", file=sys.stderr, disable=not enabled, dynamic_ncols=True)
        self.counts = {"ok": 0, "failed": 0, "running": 0}

    def started(self) -> None:
        self.counts["running"] += 1
        self._show()

    def finished(self, status: str) -> None:
        self.counts["running"] -= 1
        self.counts["ok" if status == "ok" else "failed"] += 1
        self.bar.update(1)
        self._show()

    def _show(self) -> None:
        self.bar.set_postfix(done=self.counts["ok"], failed=self.counts["failed"], running=self.counts["running"])

    def close(self) -> None:
        self.bar.close()


def run_study(
    raw: dict[str, Any],
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    retry_failed: bool = False,
    point_timeout: float | None = None,
    progress: bool = False,
    recycle: int = 1,
) -> StudySummary:
    """Run (or resume) the study ``raw`` into ``out``; return a summary.

    ``recycle`` is how many points a worker process runs before it is replaced. One (the
    default) gives every point a fresh process: measured here, workers reused for 6 points let
    2 of 50 points crash in the emulation (SIGSEGV) after other points had run in the same
    process — those points pass in a fresh one, the root cause is not understood — while one
    point per process ran 50 of 50 at +34 % wall time (a TensorFlow import per point).

    Bad input raises :class:`ToolkitError` before anything is written: a bad config or grid, a
    study directory another process holds (its lock), ``--resume`` with a config other than the
    one the study started with, an unreachable Dask scheduler. Ctrl-C or SIGTERM keeps every
    finished point, returns running ones to ``queued``, stops the workers and re-raises.
    """
    points = expand(raw)
    out = Path(out)
    workers = os.cpu_count() or 1 if workers is None else workers
    if workers < 1:
        raise ToolkitError(f"--workers must be at least 1, got {workers}.")
    _check_out(out, resume)
    study_hash = stable_hash(raw)
    ResultStore.check(out / "results.sqlite", study_hash)
    client = connect_dask(scheduler) if scheduler else None  # unreachable: fails before anything is written
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with study_lock(out):
            execution = _Execution(client, workers, point_timeout, recycle, progress)
            return _run_locked(points, study_hash, out, execution, retry_failed)
    except ToolkitError:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        if client is not None:
            client.close()


@dataclass(frozen=True)
class _Execution:
    """Where and how points run: a Dask client, or local workers."""

    client: Any
    workers: int
    timeout: float | None
    recycle: int
    progress: bool


def _run_locked(
    points: list[Point], study_hash: str, out: Path, execution: _Execution, retry_failed: bool
) -> StudySummary:
    remove_stale_partials(out / "points")
    remove_stale_partials(out / "models", ".*.tmp-*")
    store = ResultStore(out / "results.sqlite")
    start = time.perf_counter()
    try:
        store.claim(study_hash)
        before = store.statuses()
        todo, invalid = _queue(store, points, retry_failed)
        groups = plan_groups(points, todo, out)
        _execute(groups, store, out, execution)
        final = store.statuses()
        wanted = {p.point_id for p in points}
        counts = [final.get(pid) for pid in wanted]
        return StudySummary(
            total=len(wanted),
            ok=counts.count("ok"),
            failed=counts.count("failed"),
            ran=sum(len(g.tasks) for g in groups),
            skipped=sum(1 for pid in wanted - todo if before.get(pid) in ("ok", "failed")),
            wall_s=time.perf_counter() - start,
            out=out,
            invalid=invalid,
        )
    finally:
        store.close()


def _queue(store: ResultStore, points: list[Point], retry_failed: bool) -> tuple[set[str], int]:
    """Points to run now (queued) and how many are invalid for their grid values (failed rows, no run)."""
    store.add_points(points)
    store.requeue(("running", "failed") if retry_failed else ("running",))
    status = store.statuses()
    invalid = 0
    for point in points:
        if point.error is not None and status.get(point.point_id) != "failed":
            store.finish(point.point_id, failed(point.error))
            status[point.point_id] = "failed"
            invalid += 1
    return {p.point_id for p in points if status.get(p.point_id) == "queued"}, invalid


def _execute(groups: list[Group], store: ResultStore, out: Path, execution: _Execution) -> None:
    """Run ``groups``; every finished point is one store transaction; the CSV is written whatever happens."""
    bar = _Progress(sum(len(g.tasks) for g in groups), execution.progress)

    def started(task: Task) -> None:
        store.set_status([task.point_id], "running")
        bar.started()

    def finished(task: Task, result: dict[str, Any]) -> None:
        store.finish(task.point_id, result)
        bar.finished(result.get("status", "failed"))

    hooks = Hooks(started, finished)
    try:
        if execution.client is not None:
            run_dask(groups, hooks, execution.client, execution.timeout)
        else:
            log = str(out / "workers.log")
            run_local(groups, hooks, execution.workers, execution.timeout, recycle=execution.recycle, log_path=log)
    except KeyboardInterrupt:
        store.requeue(("running",))
        raise
    finally:
        bar.close()
        store.export_csv(out / "results.csv")
        remove_stale_partials(out / "points")  # those of workers stopped just now


def _check_out(out: Path, resume: bool) -> None:

    if out.exists() and not out.is_dir():
        raise ToolkitError(f"--out {str(out)!r} is a file; give a directory.")
    has_store = (out / "results.sqlite").exists()
    if has_store and not resume:
        raise ToolkitError(
            f"--out {str(out)!r} already holds a study; pass --resume to continue it, or choose a new --out."
        )
    if resume and not has_store:
        raise ToolkitError(f"--resume: {str(out)!r} holds no study (results.sqlite) to resume.")
    if out.is_dir() and not has_store and any(out.iterdir()):
        raise ToolkitError(f"--out {str(out)!r} exists and is not empty; choose a new directory for the study.")
    check_writable_parent(out)
