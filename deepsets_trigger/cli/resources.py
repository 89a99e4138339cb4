"""``resources``: resources and latency of a run directory, or of real synthesis reports."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from deepsets_trigger.resources import TOTALS, resources_of
from deepsets_trigger.resources.published import compare_published, summary_line


def add_parser(sub: Any) -> None:
    res = sub.add_parser("resources", help="resources and latency of a run directory or of synthesis reports")
    res.add_argument("path", help="a run output directory, or a directory holding Vivado/Vitis HLS reports")
    res.add_argument(
        "--source", choices=["analytic", "yosys", "vivado"], help="default: analytic for a run, vivado for reports"
    )
    res.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    res.add_argument(
        "--compare-published",
        dest="compare_published",
        action="store_true",
        help="print the run's numbers next to the published DeepSets synthesis it matches (arXiv:2402.01876)",
    )
    res.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    import json

    record = resources_of(args.path, args.source)
    if args.json:
        keys = [*TOTALS, "layers", *(["implementation"] if "implementation" in record else [])]
        print(json.dumps({k: record.get(k) for k in keys}, indent=2, default=str))
        return 0
    rows = record.get("layers", [])
    if rows:
        print(f"{'layer':<22}{'class':<18}{'DSP':>7}{'LUT':>9}{'FF':>9}{'BRAM':>6}{'cycles':>8}{'II':>5}")
        for r in rows:
            if "dsp" not in r:
                print(f"{r['layer']:<22}{r['class']:<18}  not estimated")
                continue
            print(
                f"{r['layer']:<22}{r['class']:<18}{r['dsp']:>7}{r['lut']:>9}{r['ff']:>9}{r['bram']:>6}"
                f"{r['latency_cycles']:>8}{r['ii']:>5}"
            )

    print(summary_line(record))  # analytic figures carry their calibration residual
    if record["resource_source"] == "yosys":
        print(
            f"yosys {record['yosys_version']} synth_xilinx -family {record['family']}: CARRY={record['carry']}, "
            f"da4ml's LUT estimate {record['da4ml_lut_estimate']:.0f}; RTL bit-exact vs Keras on "
            f"{record['verified']['n_samples']} random inputs; Verilog in {Path(args.path) / record['rtl']}"
        )
    if "implementation" in record:
        print("after Vivado synthesis: " + ", ".join(f"{k}={v}" for k, v in record["implementation"].items()))
    if args.compare_published:
        print(compare_published(args.path, record))
    return 0
