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
    diag.add_argument(
        "--advise",
        action="store_true",
        help="propose per-layer types and verify them: ap_fixed<W,I> for PTQ runs; for QAT runs and --model, "
        "the narrowest accum/result types that reproduce the QKeras model",
    )
    diag.add_argument(
        "--target-ratio", dest="target_ratio", type=float, default=0.99, help="PTQ advisor: target accuracy ratio"
    )
    diag.add_argument(
        "--target-agreement",
        dest="target_agreement",
        type=float,
        default=None,
        help="QAT/--model advisor: keep this logit agreement instead of reproducing the model bit for bit",
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
        args.run_dir,
        args.out,
        args.n_samples,
        args.inputs,
        args.advise,
        args.target_ratio,
        external=external,
        target_agreement=args.target_agreement,
    )
    out = Path(args.out or args.run_dir)
    if record["culprit_layer"]:
        print(f"cause: {record['culprit_layer']} — {record['cause']}: {record['explanation']}")
    else:
        print(f"nothing wrong found on {record['n_samples']} samples")
    print(f"emulator: {record['emulator']} ({record['emulator_note']})")
    for r in record["layers"]:
        flag = f"  <- {r['cause']}" if r["cause"] else ""
        print(f"  {r['hls_layer']:<26}{r['firmware_type'] or '-':<34}max|Δ| {fmt(r['max_abs_diff']):>10}{flag}")
    _print_attribution(record.get("attribution"))
    _print_advice(record.get("advice"))
    print(f"diagnosis: {out / 'diagnosis.md'}")
    return 0


def _print_attribution(attribution: dict[str, Any] | None) -> None:
    if not attribution or not attribution["layers"]:
        return
    base = attribution["baseline"]
    print(
        f"counterfactuals ({attribution['emulator']}): as configured agreement {fmt(base['agreement'])}, "
        f"max|Δlogit| {fmt(base['max_abs_logit_diff'])}; with only this layer exact:"
    )
    for row in attribution["layers"]:
        print(f"  {row['layer']:<26}agreement {fmt(row['agreement']):>8}  max|Δlogit| {fmt(row['max_abs_logit_diff'])}")


def _print_advice(advice: dict[str, Any] | None) -> None:
    if not advice:
        return
    keys = ("before", "advised") if advice.get("mode") == "types" else ("before", "advised", "uniform")
    for key in keys:
        a = advice[key]
        print(
            f"  {key:<8} {a['label']}: ratio {fmt(a.get('accuracy_ratio'))}, agreement {fmt(a.get('agreement'))}, "
            f"{fmt(a.get('total_bits'))} bits, BOPs {fmt(a.get('bops'))}, LUT {fmt(a.get('lut'))}, "
            f"DSP {fmt(a.get('dsp'))}"
        )
    if advice.get("mode") == "types":
        print(f"  searched with the {advice['emulator']}, advised config verified by the compiled C++")
    print(f"advised hls4ml config: {advice['config']}")
