"""The twin's property test in full: 212 random firmware configurations, each compared bit for bit with hls4ml's C++.

Every case (see ``tests/twin_cases.py``) is converted, compiled with g++ and run on 256 samples
by both the compiled library and the twin; the table lists each configuration and its
mismatching samples, the last line the totals. Exit code 1 when any sample mismatches or a
case fails. ``make test`` runs a seeded subset of these cases (``tests/test_twin.py``).

    PYTHONPATH=$PWD python scripts/twin_property.py [--cases 200] [--start 0] [--samples 256]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=212)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--samples", type=int, default=256)
    args = parser.parse_args(argv)

    from tests.twin_cases import draw, run_case

    totals = {
        "cases": 0,
        "mismatched_cases": 0,
        "mismatched_samples": 0,
        "errors": 0,
        "exact_path_cases": 0,
        "refused": 0,
    }
    print(f"{'seed':>4}  {'configuration':<100} {'mism.':>5} {'max|Δ|':>8}  exact-path layers")
    started = time.perf_counter()
    for seed in range(args.start, args.start + args.cases):
        case = draw(seed)
        work = Path(tempfile.mkdtemp(prefix=f"twin{seed}_"))
        try:
            record = run_case(case, work, args.samples)
        except Exception as exc:  # a failing case is reported, the run goes on
            totals["errors"] += 1
            print(f"{seed:>4}  {case.describe():<100} ERROR {type(exc).__name__}: {exc}", flush=True)
            continue
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if "refused" in record:
            totals["refused"] += 1
            print(f"{seed:>4}  {case.describe():<100} refused, and the C++ aborts too: {record['refused']}", flush=True)
            continue
        totals["cases"] += 1
        totals["mismatched_samples"] += record["mismatched_samples"]
        totals["mismatched_cases"] += record["mismatched_samples"] > 0
        totals["exact_path_cases"] += bool(record["exact_path_layers"])
        print(
            f"{seed:>4}  {case.describe():<100} {record['mismatched_samples']:>5} {record['max_abs_diff']:>8.3g}  "
            f"{','.join(record['exact_path_layers']) or '-'}",
            flush=True,
        )
    minutes = (time.perf_counter() - started) / 60
    print(
        f"total: {totals['cases']} cases × {args.samples} samples, {totals['mismatched_cases']} cases with mismatches "
        f"({totals['mismatched_samples']} samples), {totals['errors']} errors, {totals['refused']} refused "
        "(the C++ asserts on their reuse factor and aborts), "
        f"{totals['exact_path_cases']} cases used the exact per-product path; {minutes:.1f} min"
    )
    return 1 if totals["mismatched_samples"] or totals["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
