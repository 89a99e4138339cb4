"""``study`` and ``report``: a grid of points into a results store, and its plots."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from deepsets_trigger.cli.common import raw_config
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.report import make_report
from deepsets_trigger.study import run_study


def add_parsers(sub: Any) -> None:
    study = sub.add_parser("study", help="run a grid of points in isolated workers into a results store")
    study.add_argument("config", help="YAML config with a grid section")
    study.add_argument("--out", required=True, help="study directory (results.sqlite, results.csv, points/, models/)")
    study.add_argument("--workers", type=int, help="local worker processes (default: number of cores)")
    study.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://HOST:8786 (default: local pool)")
    study.add_argument("--resume", action="store_true", help="continue a study: finished points are kept")
    study.add_argument(
        "--retry-failed", dest="retry_failed", action="store_true", help="with --resume: re-run failed points"
    )
    study.add_argument("--point-timeout", dest="point_timeout", type=float, help="seconds before a point is stopped")
    study.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")
    study.set_defaults(func=study_command)

    report = sub.add_parser("report", help="plots and report.md of a study directory")
    report.add_argument("study_dir", help="a study output directory")
    report.set_defaults(func=report_command)


def study_command(args: argparse.Namespace) -> int:

    raw = raw_config(args.config, args.set)
    if args.point_timeout is not None and not 0 < args.point_timeout < float("inf"):
        raise ToolkitError(f"--point-timeout must be positive seconds, got {args.point_timeout}.")
    if args.retry_failed and not args.resume:
        raise ToolkitError("--retry-failed re-runs the failed points of an existing study: add --resume.")
    try:
        summary = run_study(
            raw,
            args.out,
            workers=args.workers,
            scheduler=args.scheduler,
            resume=args.resume,
            retry_failed=args.retry_failed,
            point_timeout=args.point_timeout,
            progress=sys.stderr.isatty(),
        )
    except KeyboardInterrupt:
        if (Path(args.out) / "results.sqlite").exists():
            print(f"interrupted: finished points are kept in {args.out}; continue with --resume", file=sys.stderr)
        raise
    kept = f", {summary.skipped} kept from before" if summary.skipped else ""
    invalid = f", {summary.invalid} invalid" if summary.invalid else ""
    print(
        f"study: {summary.total} points — {summary.ok} ok, {summary.failed} failed{invalid} "
        f"({summary.ran} run now{kept}) in {summary.wall_s:.0f} s"
    )
    print(f"results: {summary.out / 'results.csv'} (store: {summary.out / 'results.sqlite'})")
    return 0 if summary.failed == 0 else 1


def report_command(args: argparse.Namespace) -> int:

    path = make_report(args.study_dir)
    print(f"report: {path} (plots in {path.parent / 'plots'})")
    return 0
