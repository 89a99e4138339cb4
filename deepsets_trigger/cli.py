"""``deepsets-trigger`` command line: parse, call one building block, print, exit.

Exit codes: 0 success, 1 a run that failed after its input was accepted (recorded in
``result.json``), 2 bad input (one line naming the problem and the fix; nothing written).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from deepsets_trigger import __version__
from deepsets_trigger.errors import ToolkitError


def _parse_override(text: str) -> tuple[str, Any]:
    from deepsets_trigger.config import parse_yaml

    if "=" not in text:
        raise ToolkitError(f"--set {text!r}: write KEY=VALUE, e.g. --set quantization.weight_bits=6.")
    key, value = text.split("=", 1)
    return key.strip(), parse_yaml(value, f"--set {text!r}: the value")


def _load_run_config(args: argparse.Namespace) -> Any:
    from deepsets_trigger.config import config_from_dict, read_yaml_mapping, set_path

    raw = read_yaml_mapping(args.config, "config file") if args.config is not None else {}
    for override in args.set or []:
        set_path(raw, *_parse_override(override))
    if args.model is not None and args.inputs is None and "data" not in raw:
        raise ToolkitError("--model needs samples: pass --inputs FILE, or a CONFIG whose data section names them.")
    if args.model is not None and "test_fraction" not in raw.get("data", {}):
        set_path(raw, "data.test_fraction", 1.0)
    return config_from_dict(raw)


def _cmd_run(args: argparse.Namespace) -> int:
    from deepsets_trigger.pipeline import External, run_point

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
    cfg = _load_run_config(args)
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
    _print_result(result, out)
    return 0 if result["status"] == "ok" else 1


def _cmd_study(args: argparse.Namespace) -> int:
    from deepsets_trigger.config import read_yaml_mapping, set_path
    from deepsets_trigger.study import run_study

    raw = read_yaml_mapping(args.config, "config file")
    for override in args.set or []:
        set_path(raw, *_parse_override(override))
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


def _cmd_report(args: argparse.Namespace) -> int:
    from deepsets_trigger.report import make_report

    path = make_report(args.study_dir)
    print(f"report: {path} (plots in {path.parent / 'plots'})")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from deepsets_trigger.io import check_replaceable_file

    if args.data_command == "jets":
        from deepsets_trigger.data.pythia_jets import JetGenConfig, generate_jets, write_jet_file

        workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
        cfg = JetGenConfig(args.n_jets, args.seed, workers, args.pt_min, args.pt_max)
        cfg.validate()
        check_replaceable_file(Path(args.out))
        constituents, jets = generate_jets(cfg, progress=sys.stderr.isatty())
        write_jet_file(args.out, constituents, jets, cfg)
        print(f"jets: {len(jets)} written to {args.out}")
    elif args.data_command == "calo":
        from deepsets_trigger.data.calo import CaloGenConfig, generate_calo, write_calo_file

        particles = tuple(p.strip() for p in args.particles.split(",") if p.strip())
        cfg = CaloGenConfig(args.n_events, particles, args.e_min, args.e_max, args.pileup, args.seed)
        cfg.validate()
        check_replaceable_file(Path(args.out))
        write_calo_file(args.out, generate_calo(cfg, progress=sys.stderr.isatty()), cfg)
        print(f"calo: {args.n_events} events written to {args.out}")
    else:
        from deepsets_trigger.data.plots import plot_data_file

        made = plot_data_file(args.file, args.out)
        print(f"plots: {', '.join(p.name for p in made)} in {args.out}")
    return 0


def _cmd_resources(args: argparse.Namespace) -> int:
    import json

    from deepsets_trigger.resources import TOTALS, resources_of

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
    from deepsets_trigger.resources.published import compare_published, summary_line

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


def _cmd_diagnose(args: argparse.Namespace) -> int:
    from deepsets_trigger.diagnose import diagnose_run

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
        print(f"  {r['hls_layer']:<26}{r['firmware_type'] or '-':<34}max|Δ| {_fmt(r['max_abs_diff']):>10}{flag}")
    advice = record.get("advice")
    if advice:
        for key in ("before", "advised", "uniform"):
            a = advice[key]
            print(f"  {key:<8} {a['label']}: ratio {_fmt(a.get('accuracy_ratio'))}, {_fmt(a.get('total_bits'))} bits")
        print(f"advised hls4ml config: {advice['config']}")
    print(f"diagnosis: {out / 'diagnosis.md'}")
    return 0


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _print_result(result: dict[str, Any], out: Path) -> None:
    keys = [
        "mode",
        "keras_accuracy",
        "firmware_accuracy",
        "accuracy_ratio",
        "logit_agreement",
        "max_abs_logit_diff",
        "resolution_keras",
        "resolution_firmware",
        "expected_agreement",
        "sparsity",
    ]
    rows = [(k, _fmt(result.get(k))) for k in keys if k in result and result.get(k) is not None]
    width = max(len(k) for k, _ in rows) if rows else 0
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


def _add_trust(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-custom-layers",
        dest="trust_custom_layers",
        action="append",
        metavar="MODULE",
        help="accept the Keras layer classes of MODULE (a module name or .py path) in --model; this IMPORTS AND "
        "RUNS that module's code. Without it, model files may hold Keras/QKeras layers only",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepsets-trigger",
        description="Train DeepSets/GNN trigger models, convert them with hls4ml and measure the firmware gap.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
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
    _add_trust(run)
    run.set_defaults(func=_cmd_run)

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
    study.set_defaults(func=_cmd_study)

    data = sub.add_parser("data", help="generate physics data (Pythia8 jets, calorimeter) and plot it")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    jets = data_sub.add_parser("jets", help="Pythia8 + FastJet jets in the hls4ml jet format")
    jets.add_argument("--n-jets", dest="n_jets", type=int, required=True, help="jets, balanced over g, q, W, Z, t")
    jets.add_argument("--out", required=True, help="output .h5 file")
    jets.add_argument("--seed", type=int, default=0)
    jets.add_argument("--workers", type=int, help="generator processes (default: number of cores)")
    jets.add_argument("--pt-min", dest="pt_min", type=float, default=900.0, help="pT-hat window low edge [GeV]")
    jets.add_argument("--pt-max", dest="pt_max", type=float, default=1100.0, help="pT-hat window high edge [GeV]")
    calo = data_sub.add_parser("calo", help="a parametric sampling calorimeter in the GarNet data layout")
    calo.add_argument("--n-events", dest="n_events", type=int, required=True)
    calo.add_argument("--out", required=True, help="output .h5 file")
    calo.add_argument("--particles", default="e,pi+", help="comma-separated: e, pi+, pi0, gamma")
    calo.add_argument("--pileup", type=float, default=0.0, help="mean number of soft pile-up particles")
    calo.add_argument("--e-min", dest="e_min", type=float, default=10.0, help="GeV")
    calo.add_argument("--e-max", dest="e_max", type=float, default=100.0, help="GeV")
    calo.add_argument("--seed", type=int, default=0)
    plot = data_sub.add_parser("plot", help="validation plots of a jet or calorimeter file")
    plot.add_argument("file")
    plot.add_argument("--out", required=True, help="directory for the PNGs")
    data.set_defaults(func=_cmd_data)
    from gnn_keras.tracking.cli import add_data_parser, add_graphs_parser  # TODO(lead): plugin registry

    add_data_parser(data_sub)
    add_graphs_parser(sub)

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
    res.set_defaults(func=_cmd_resources)

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
    _add_trust(diag)
    diag.set_defaults(func=_cmd_diagnose)

    report = sub.add_parser("report", help="plots and report.md of a study directory")
    report.add_argument("study_dir", help="a study output directory")
    report.set_defaults(func=_cmd_report)
    return parser


def _quiet_libraries() -> None:
    """TensorFlow, Keras, QKeras and hls4ml warn about things a user cannot act on."""
    import logging
    import os
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    for module in ("keras", "tensorflow", "qkeras", "hls4ml", "tensorflow_model_optimization"):
        warnings.filterwarnings("ignore", module=module)


class Terminated(KeyboardInterrupt):
    """SIGTERM (what batch systems send) handled exactly like Ctrl-C."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    import signal

    args = build_parser().parse_args(argv)
    _quiet_libraries()
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print("interrupted" + (" (SIGTERM)" if isinstance(exc, Terminated) else ""), file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        signal.signal(signal.SIGTERM, previous)
