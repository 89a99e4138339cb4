"""``diagnose``: which layer makes the firmware differ from Keras, why, and what would fix it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from deepsets_trigger.cli.common import add_trust, fmt
from deepsets_trigger.diagnose import diagnose_run
from deepsets_trigger.errors import ToolkitError


def add_parser(sub: Any) -> None:
    diag = sub.add_parser("diagnose", help="which layer makes the firmware differ from Keras, and why")
    diag.add_argument("run_dir", nargs="?", help="a 'deepsets-trigger run' output directory")
    diag.add_argument("--model", help="instead of RUN_DIR: a Keras model (.h5, or .json with --weights)")
    diag.add_argument("--weights", help="HDF5 weights for a JSON --model")
    diag.add_argument("--hls-config", dest="hls_config", help="the hls4ml YAML the --model is converted with")
    diag.add_argument("--n-samples", dest="n_samples", type=int, default=1000, help="test samples to trace")
    diag.add_argument("--inputs", help="inputs (.npy or text, one sample per row) instead of the run's data")
    diag.add_argument("--out", help="where diagnosis.json/.md and plots go (default: RUN_DIR)")
    diag.add_argument("--advise", action="store_true", help="propose per-layer ap_fixed<W,I> (PTQ) and verify it")
    diag.add_argument(
        "--target-ratio", dest="target_ratio", type=float, default=0.99, help="advisor target accuracy ratio"
    )
    add_trust(diag)
    diag.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:

    external = None
    if args.model is not None:
        if args.hls_config is None:
            raise ToolkitError("diagnose --model needs --hls-config (the hls4ml YAML to convert it with).")
        external = (args.model, args.weights, args.hls_config, tuple(args.trust_custom_layers or ()))
    record = diagnose_run(
        args.run_dir, args.out, args.n_samples, args.inputs, args.advise, args.target_ratio, external=external
    )
    out = Path(args.out or args.run_dir)
    if record["culprit_layer"]:
        print(f"cause: {record['culprit_layer']} — {record['cause']}: {record['explanation']}")
    else:
        print(f"nothing wrong found on {record['n_samples']} samples")
    for r in record["layers"]:
        flag = f"  <- {r['cause']}" if r["cause"] else ""
        print(f"  {r['hls_layer']:<26}{r['firmware_type'] or '-':<34}max|Δ| {fmt(r['max_abs_diff']):>10}{flag}")
    advice = record.get("advice")
    if advice:
        for key in ("before", "advised", "uniform"):
            a = advice[key]
            print(f"  {key:<8} {a['label']}: ratio {fmt(a.get('accuracy_ratio'))}, {fmt(a.get('total_bits'))} bits")
        print(f"advised hls4ml config: {advice['config']}")
    print(f"diagnosis: {out / 'diagnosis.md'}")
    return 0
