"""Benchmark of the study runner, measured in one run on this machine.

1. Wall time of a study (shared trainings, worker pool) vs a naive loop that trains and
   compiles every point separately, one after the other: prints the speed-up.
2. Peak resident memory (client + workers) over a 50-point study, per block of 10 finished
   points: worker recycling must keep it flat (prints last block / first block).

    python scripts/bench_study.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

BASE = {
    "data": {"source": "toy", "n_samples": 3000, "n_constituents": 8},
    "model": {"phi": [16, 16, 16], "rho": [16]},
    "train": {"epochs": 10, "batch_size": 128},
    "quantization": {"mode": "ptq"},
}


def _rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, in KiB."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def study_vs_naive(grid: list[dict], workdir: Path) -> None:
    from deepsets_trigger.config import config_from_dict
    from deepsets_trigger.pipeline import run_point
    from deepsets_trigger.study import expand, run_study

    raw = {**BASE, "grid": grid}
    points = expand(raw)
    start = time.perf_counter()
    summary = run_study(raw, workdir / "study")
    study_s = time.perf_counter() - start
    start = time.perf_counter()
    for point in points:
        run_point(config_from_dict(point.config.to_dict()), workdir / "naive" / point.point_id)
    naive_s = time.perf_counter() - start
    trainings = len({p.train_hash for p in points})
    print(f"[1] {len(points)} points, {trainings} distinct trainings, {summary.ok} ok")
    print(f"    study (shared trainings, {os.cpu_count()} workers): {study_s:7.1f} s")
    print(f"    naive loop (train + compile every point):        {naive_s:7.1f} s")
    print(f"    speed-up: {naive_s / study_s:.2f}x")


def memory_over_study(grid: list[dict], workdir: Path) -> None:
    from deepsets_trigger.study import expand, run_study

    raw = {**BASE, "grid": grid}
    n_points = len(expand(raw))
    samples: list[tuple[int, int]] = []  # (points finished, RSS KiB)
    done = threading.Event()
    store = workdir / "mem" / "results.sqlite"

    def sample() -> None:
        while not done.is_set():
            finished = 0
            if store.exists():
                try:
                    with sqlite3.connect(store, timeout=1) as db:
                        finished = db.execute("SELECT COUNT(*) FROM points WHERE status IN ('ok','failed')").fetchone()[
                            0
                        ]
                except sqlite3.Error:
                    pass
            samples.append((finished, _rss_kib(os.getpid())))
            time.sleep(1.0)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    summary = run_study(raw, workdir / "mem")
    done.set()
    thread.join()
    blocks: dict[int, int] = {}
    for finished, rss in samples:
        block = min(finished // 10, (n_points - 1) // 10)
        blocks[block] = max(blocks.get(block, 0), rss)
    print(f"[2] {n_points}-point study: {summary.ok} ok, {summary.failed} failed; peak RSS (client + workers):")
    for block, rss in sorted(blocks.items()):
        print(f"    points {block * 10:3d}-{block * 10 + 9:3d}: {rss / 1024:7.0f} MiB")
    from deepsets_trigger.study import load_results

    df = load_results(workdir / "mem")
    for row in df[df["status"] == "failed"].itertuples():
        print(f"    failed {row.point_id}: {str(row.error).splitlines()[0][:200]}")
    first, last = blocks[min(blocks)], blocks[max(blocks)]
    print(f"    last block / first block: {last / first:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller grids (a smoke run, not the benchmark)")
    args = parser.parse_args()
    small = [{"model.phi_width": [8, 16], "quantization.bits": [6, 8, 12]}]
    fifty = [
        {"model.phi_width": [8, 16], "quantization.bits": list(range(5, 17)), "hls.reuse_factor": [1, 2]},
        {"model.phi_width": [8, 16], "quantization.mode": ["qat"], "quantization.bits": [6]},
    ]
    if args.quick:
        small = [{"model.phi_width": [8], "quantization.bits": [6, 12]}]
        fifty = [{"model.phi_width": [8], "quantization.bits": [6, 8, 10, 12]}]
    with tempfile.TemporaryDirectory() as tmp:
        study_vs_naive(small, Path(tmp))
        memory_over_study(fifty, Path(tmp))


if __name__ == "__main__":
    main()
