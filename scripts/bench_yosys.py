"""Benchmark of the open-source synthesis tier on the 16-32-5 8-bit QKeras net, measured in one run.

Prints the time to trace + verify and to synthesize, yosys' LUT count against da4ml's own
estimate, and against the analytic model of hls4ml's Latency strategy for the same network
(hls4ml multiplies with LUT multipliers or DSPs; da4ml with shift-and-add logic: different designs,
so the ratio says how the two implementations compare, not how accurate either estimate is).

    python scripts/bench_yosys.py [--family xc7|xcup]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default=None, help="yosys synth_xilinx family (default: by yosys version)")
    args = parser.parse_args()

    from deepsets_trigger.config import config_from_dict
    from deepsets_trigger.convert import convert
    from deepsets_trigger.models.mlp import qkeras_mlp
    from deepsets_trigger.precision import parse_precision
    from deepsets_trigger.resources import estimate
    from deepsets_trigger.resources.rtl import trace_keras, verify
    from deepsets_trigger.resources.yosys import yosys_resources

    model = qkeras_mlp((16, 32, 5), bits=8)
    start = time.perf_counter()
    traced = trace_keras(model)
    verify(traced, model, n=10_000)
    trace_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        record = yosys_resources(model, Path(tmp), family=args.family, cache_dir=None)
        total_s = time.perf_counter() - start
        hls = config_from_dict({"hls": {"backend": "Vivado"}}).hls
        conversion = convert(
            model,
            hls,
            Path(tmp) / "hls",
            mode="qat",
            default_precision=parse_precision("ap_fixed<16,6>"),
            input_precision=parse_precision("ap_fixed<8,3>"),
        )
        analytic = estimate(conversion.hls_model)
    print(f"trace + verify on 10,000 inputs: {trace_s:.1f} s; RTL + yosys: {total_s:.1f} s")
    print(
        f"yosys {record['yosys_version']} ({record['family']}): LUT {record['lut']}, FF {record['ff']}, "
        f"CARRY {record['carry']}, DSP {record['dsp']}, {record['latency_cycles']} cycles"
    )
    ratio = record["lut"] / record["da4ml_lut_estimate"]
    print(f"da4ml LUT estimate {record['da4ml_lut_estimate']:.0f}: yosys / da4ml = {ratio:.3f}")
    print(
        f"analytic (hls4ml Latency): LUT {analytic['lut']}, FF {analytic['ff']}, DSP {analytic['dsp']}, "
        f"{analytic['latency_cycles']} cycles: yosys LUT / analytic LUT = {record['lut'] / analytic['lut']:.3f}"
    )


if __name__ == "__main__":
    main()
