"""``run``: one point — data → train (or load) → convert → evaluate → record."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from deepsets_trigger.cli.common import add_trust, fmt, raw_config
from deepsets_trigger.config import config_from_dict, set_path
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.pipeline import External, run_point
from deepsets_trigger.record import PRINTED


def add_parser(sub: Any) -> None:
    run = sub.add_parser("run", help="run one point: data → train (or load) → convert → evaluate")
    run.add_argument("config", nargs="?", help="YAML config (optional with --model)")
    run.add_argument("--out", required=True, help="output directory (replaced if it holds a previous run)")
    run.add_argument("--model", help="existing Keras/QKeras model: .h5, or Keras JSON with --weights")
    run.add_argument("--weights", help="HDF5 weights for a JSON --model")
    run.add_argument("--hls-config", dest="hls_config", help="an hls4ml YAML to start from (1.0-style keys translated)")
    run.add_argument("--inputs", help="inputs for --model: .npy, or text with one flattened sample per row")
    run.add_argument("--expected", help="a peer's expected outputs for --inputs, one row per sample")
    run.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a config key, e.g. hls.reuse_factor=2"
    )
    add_trust(run)
    run.set_defaults(func=command)


def _check_flags(args: argparse.Namespace) -> None:
    if args.config is None and args.model is None:
        raise ToolkitError("run needs a CONFIG.yaml, or --model PATH to convert an existing model.")
    for flag, needs, name in (
        ("weights", "model", "--weights"),
        ("hls_config", "model", "--hls-config"),
        ("inputs", "model", "--inputs"),
        ("expected", "inputs", "--expected"),
    ):
        if getattr(args, flag) is not None and getattr(args, needs) is None:
            raise ToolkitError(f"{name} goes with --{needs.replace('_', '-')}.")


def _config(args: argparse.Namespace) -> Any:
    raw = raw_config(args.config, args.set)
    if args.model is not None and args.inputs is None and "data" not in raw:
        raise ToolkitError("--model needs samples: pass --inputs FILE, or a CONFIG whose data section names them.")
    if args.model is not None and "test_fraction" not in raw.get("data", {}):
        set_path(raw, "data.test_fraction", 1.0)
    return config_from_dict(raw)


def command(args: argparse.Namespace) -> int:

    _check_flags(args)
    cfg = _config(args)
    external = None
    if args.model is not None:
        trusted = tuple(args.trust_custom_layers or ())
        external = External(args.model, args.weights, args.hls_config, args.inputs, args.expected, trusted)
    out = Path(args.out)
    before = out.exists()
    try:
        result = run_point(cfg, out, external=external, progress=sys.stderr.isatty())
    except KeyboardInterrupt:
        if before:
            print(f"interrupted: {out} was left exactly as it was", file=sys.stderr)
        elif out.exists():
            print(f"interrupted: what was computed is in {out} (result.json says status failed)", file=sys.stderr)
        else:
            print("interrupted: nothing was written", file=sys.stderr)
        raise
    print_result(result, out)
    return 0 if result["status"] == "ok" else 1


def print_result(result: dict[str, Any], out: Path) -> None:
    """The printed fields of the record, the timings, and where the rest is."""
    rows = [(k, fmt(result[k])) for k in PRINTED if result.get(k) is not None]
    width = max((len(k) for k, _ in rows), default=0)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    t = result.get("timings", {})
    print(
        f"  timings: train {t.get('train_s', 0):.1f} s, convert {t.get('convert_s', 0):.1f} s, "
        f"compile {t.get('compile_s', 0):.1f} s, predict {t.get('predict_s', 0):.2f} s"
    )
    if result["status"] != "ok":
        print(f"run failed: {result['error']}", file=sys.stderr)
    print(f"results: {out / 'result.json'}")
