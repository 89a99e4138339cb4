"""Benchmark of the firmware twin, measured in one run on this machine.

1. Emulation throughput: the twin vs the toolkit's C++ ``predict`` (hls4ml's compiled
   library, one call per sample) on the default DeepSets (φ 32-32-32, ρ 32, mean, 8
   constituents × 3 features, 5 classes), 10,000 samples, checked bit-exact; prints the ratio
   (target ≥ 50×).
2. Cost of one precision point: the naive hls4ml loop (convert + g++ compile + C++ predict)
   vs convert + build the twin + twin predict, for one PTQ precision, on the same samples.

3. The 12-precision PTQ sweep (``ap_fixed<4,2>`` … ``ap_fixed<18,8>``) of the default DeepSets on
   the 3,000 real jets (900 test jets) through ``study`` vs the plain hls4ml loop (convert +
   compile + predict per precision), training and verification compiles included (target ≥ 3×).
4. A 96-point grid (those 12 precisions × 8 per-layer variants) through ``study`` vs the plain
   loop's per-point cost (measured on ``--loop-points`` points) × 96 (target ≥ 10×).

    python scripts/bench_twin.py [--parts 1,2,3,4] [--samples 10000] [--epochs 3] [--sweep-epochs 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@dataclass
class Setup:
    """A trained default DeepSets and its data: what every part of the benchmark starts from."""

    cfg: Any
    model: Any
    x_train: np.ndarray
    x_test: np.ndarray


def default_setup(samples: int, epochs: int, seed: int = 0) -> Setup:
    """Train the default DeepSets of ``configs/demo.yaml`` (φ 32-32-32, ρ 32) briefly on toy jets."""
    from deepsets_trigger.config import config_from_dict
    from deepsets_trigger.data.toy import make_toy
    from deepsets_trigger.models.deepsets import build_deepsets
    from deepsets_trigger.train import set_seeds

    cfg = config_from_dict(
        {
            "data": {"source": "toy", "n_samples": samples + 4000, "n_constituents": 8, "seed": seed},
            "model": {"phi": [32, 32, 32], "rho": [32], "aggregation": "mean", "head": "classification"},
            "quantization": {"mode": "ptq"},
        }
    )
    x, y, _ = make_toy(cfg.data)
    set_seeds(seed)
    model = build_deepsets(cfg, [x.shape[1:]], y.shape[1])
    model.compile("adam", "categorical_crossentropy")
    model.fit(x[:4000], y[:4000], epochs=epochs, batch_size=128, verbose=0)
    return Setup(cfg, model, x[:4000], x[4000:])


def _convert(setup: Setup, precision: str, out: Path) -> Any:
    from deepsets_trigger.convert import convert
    from deepsets_trigger.precision import parse_precision

    return convert(
        setup.model,
        setup.cfg.hls,
        out,
        mode="ptq",
        default_precision=parse_precision(precision),
        input_precision=parse_precision(setup.cfg.quantization.input_precision),
        calib_x=setup.x_train,
    )


def _timed(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


def _best(fn: Any, *args: Any, repeats: int) -> tuple[Any, float, float]:
    """``(value, best wall s, CPU s of that run)``; CPU includes child processes (the C++ runs in one)."""
    import resource

    best = (None, float("inf"), 0.0)
    for _ in range(repeats):
        before = time.process_time() + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        value, wall = _timed(fn, *args)
        cpu = time.process_time() + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before
        if wall < best[1]:
            best = (value, wall, cpu)
    return best


def bench_point(setup: Setup, precision: str, work: Path) -> dict[str, float]:
    """One precision point both ways; returns the stage timings (s) and the bit-exactness record."""
    from deepsets_trigger.convert import compile_model, predict
    from deepsets_trigger.emulate import build_twin, compare

    conversion, convert_s = _timed(_convert, setup, precision, work / "prj")
    _, compile_s = _timed(compile_model, conversion)
    cpp, cpp_s, cpp_cpu = _best(predict, conversion, setup.x_test, repeats=2)
    twin_conversion, twin_convert_s = _timed(_convert, setup, precision, work / "prj_twin")
    twin, build_s = _timed(build_twin, twin_conversion.hls_model)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # one core, like the C++ library: the machine's 2 cores are shared
        outputs, twin_first_s = _timed(twin.predict, setup.x_test)
        _, twin_s, twin_cpu = _best(twin.predict, setup.x_test, repeats=5)
    return {
        "convert_s": convert_s,
        "compile_s": compile_s,
        "cpp_predict_s": cpp_s,
        "cpp_predict_cpu_s": cpp_cpu,
        "twin_convert_s": twin_convert_s,
        "twin_build_s": build_s,
        "twin_first_predict_s": twin_first_s,
        "twin_predict_s": twin_s,
        "twin_predict_cpu_s": twin_cpu,
        **compare(outputs, cpp),
    }


def report_throughput(t: dict[str, float], n: int, precision: str) -> None:
    ratio = t["cpp_predict_s"] / t["twin_predict_s"]
    cpu_ratio = t["cpp_predict_cpu_s"] / max(t["twin_predict_cpu_s"], 1e-9)
    print(f"\n1. emulation throughput, {n} samples, {precision}:")
    print(
        f"   C++ predict  {t['cpp_predict_s']:7.3f} s wall, {t['cpp_predict_cpu_s']:7.3f} s CPU "
        f"({n / t['cpp_predict_s']:8.0f} samples/s; best of 2)"
    )
    print(
        f"   twin predict {t['twin_predict_s']:7.3f} s wall, {t['twin_predict_cpu_s']:7.3f} s CPU "
        f"({n / t['twin_predict_s']:8.0f} samples/s; best of 5, first call {t['twin_first_predict_s']:.3f} s)"
    )
    print(
        f"   ratio {ratio:.0f}x wall, {cpu_ratio:.0f}x CPU (target >= 50x; twin on one BLAS thread); "
        f"bit-exact: {t['mismatched_samples'] == 0} "
        f"({t['mismatched_samples']} of {t['samples']} samples differ, max |diff| {t['max_abs_diff']})"
    )


def report_point(t: dict[str, float], n: int, precision: str) -> None:
    naive = t["convert_s"] + t["compile_s"] + t["cpp_predict_s"]
    twin = t["twin_convert_s"] + t["twin_build_s"] + t["twin_predict_s"]
    print(f"\n2. one precision point ({precision}) on {n} samples (same process, TensorFlow already imported):")
    print(
        f"   naive hls4ml: convert {t['convert_s']:.2f} + compile {t['compile_s']:.2f} + predict "
        f"{t['cpp_predict_s']:.2f} = {naive:.2f} s"
    )
    print(
        f"   twin:         convert {t['twin_convert_s']:.2f} + build {t['twin_build_s']:.3f} + predict "
        f"{t['twin_predict_s']:.3f} = {twin:.2f} s  ({naive / twin:.0f}x)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--precision", action="append", help="repeatable (default: ap_fixed<12,4> and <16,6>)")
    parser.add_argument("--parts", default="1,2,3,4", help="which parts to run, e.g. 3,4")
    parser.add_argument("--jets", default=str(Path(__file__).resolve().parents[2] / "shared/data/jets_l1jetid"))
    parser.add_argument("--sweep-epochs", dest="sweep_epochs", type=int, default=20)
    parser.add_argument("--loop-points", dest="loop_points", type=int, default=4, help="part 4: plain-loop points")
    args = parser.parse_args(argv)
    precisions = args.precision or ["ap_fixed<12,4>", "ap_fixed<16,6>"]
    parts = {int(p) for p in args.parts.split(",")}
    exact = True
    if parts & {1, 2}:
        setup, train_s = _timed(default_setup, args.samples, args.epochs)
        print(f"default DeepSets trained for {args.epochs} epochs on toy jets in {train_s:.1f} s")
        for precision in precisions:
            with tempfile.TemporaryDirectory() as tmp:
                t = bench_point(setup, precision, Path(tmp))
            report_throughput(t, args.samples, precision)
            report_point(t, args.samples, precision)
            exact &= t["mismatched_samples"] == 0
    x_path, y_path = Path(args.jets) / "x_test_8const.npy", Path(args.jets) / "y_test.npy"
    if parts & {3, 4} and not x_path.is_file():
        print(f"parts 3 and 4 need the real jets ({x_path}): skipped")
        return 0 if exact else 1
    if 3 in parts:
        with tempfile.TemporaryDirectory() as tmp:
            report_sweep(bench_sweep(x_path, y_path, args.sweep_epochs, Path(tmp)))
    if 4 in parts:
        with tempfile.TemporaryDirectory() as tmp:
            report_grid(bench_grid(x_path, y_path, args.sweep_epochs, Path(tmp), args.loop_points))
    return 0 if exact else 1


# --- 3. a precision sweep through ``study`` vs the plain hls4ml loop --------------------------

SWEEP_PRECISIONS = [
    "ap_fixed<4,2>",
    "ap_fixed<5,2>",
    "ap_fixed<6,3>",
    "ap_fixed<7,3>",
    "ap_fixed<8,3>",
    "ap_fixed<9,4>",
    "ap_fixed<10,4>",
    "ap_fixed<11,5>",
    "ap_fixed<12,5>",
    "ap_fixed<14,6>",
    "ap_fixed<16,6>",
    "ap_fixed<18,8>",
]


def sweep_config(x_path: Path, y_path: Path, epochs: int, precisions: list[Any]) -> dict[str, Any]:
    """The study of the sweep: the default DeepSets on the real jets, one float training, PTQ types."""
    return {
        "data": {
            "source": "npy",
            "x": str(x_path),
            "y": str(y_path),
            "n_constituents": 8,
            "normalisation": {"kind": "fixed", "scale": [219, 0.2, 0.2]},
            "test_fraction": 0.3,
        },
        "model": {"phi": [32, 32, 32], "rho": [32]},
        "train": {"epochs": epochs, "batch_size": 128},
        "quantization": {"mode": "ptq"},
        "grid": {"quantization.precision": precisions},
    }


def plain_loop(raw: dict[str, Any], work: Path, limit: int | None = None) -> tuple[float, int]:
    """What a user writes without the toolkit: train once, then convert + compile + predict per precision.

    Returns the wall time and the number of points run (``limit`` runs only the first ones).
    """
    import hls4ml

    from deepsets_trigger.config import config_from_dict
    from deepsets_trigger.data import load_data
    from deepsets_trigger.registry import family
    from deepsets_trigger.train import set_seeds, train_model

    start = time.perf_counter()
    base = {k: v for k, v in raw.items() if k != "grid"}
    cfg = config_from_dict(base)
    data = load_data(cfg)
    set_seeds(cfg.train.seed)
    model, _ = train_model(
        family("deepsets").build(cfg, data.input_shapes, data.n_outputs), data, cfg.train, cfg.pruning
    )
    precisions = raw["grid"]["quantization.precision"][:limit]
    for i, precision in enumerate(precisions):
        default = precision if isinstance(precision, str) else precision["default"]
        config = hls4ml.utils.config_from_keras_model(model, granularity="name", default_precision=default)
        hls_model = hls4ml.converters.convert_from_keras_model(
            model, hls_config=config, output_dir=str(work / f"loop{i}"), backend="Vitis", io_type="io_parallel"
        )
        hls_model.compile()
        hls_model.predict(np.ascontiguousarray(data.x_test[0]))
    return time.perf_counter() - start, len(precisions)


def bench_sweep(x_path: Path, y_path: Path, epochs: int, work: Path) -> dict[str, float]:
    """Part 3: the 12-precision sweep through ``study`` (2 workers) vs the plain loop, in one run."""
    from deepsets_trigger.study import run_study

    raw = sweep_config(x_path, y_path, epochs, SWEEP_PRECISIONS)
    start = time.perf_counter()
    summary = run_study(raw, work / "study", workers=2)
    study_s = time.perf_counter() - start
    loop_s, _ = plain_loop(raw, work)
    return {"study_s": study_s, "loop_s": loop_s, "ok": summary.ok, "points": summary.total}


def report_sweep(t: dict[str, float]) -> None:
    print(f"\n3. {t['points']}-precision PTQ sweep on the real jets (training and verification compiles included):")
    print(f"   study (2 workers, twin) {t['study_s']:6.1f} s ({t['ok']} ok)")
    print(f"   plain hls4ml loop      {t['loop_s']:6.1f} s")
    print(f"   ratio {t['loop_s'] / t['study_s']:.1f}x (target >= 3x)")


# --- 4. a 96-point grid on one trained model -------------------------------------------------


def per_layer_variants(precision: str) -> list[Any]:
    """8 variants of a uniform ``ap_fixed<W,I>``: itself and 7 per-layer changes (wider, narrower)."""
    from deepsets_trigger.precision import parse_precision

    t = parse_precision(precision)

    def typed(dw: int, di: int = 0) -> str:
        return f"ap_fixed<{max(t.width + dw, 3)},{max(min(t.integer + di, t.width + dw), 1)}>"

    return [
        precision,
        {"default": precision, "phi_0": {"result": typed(4, 1)}},
        {"default": precision, "phi_0": {"weight": typed(-2)}},
        {"default": precision, "pool": {"result": typed(4)}},
        {"default": precision, "rho_0": {"weight": typed(2)}},
        {"default": precision, "logits": {"result": typed(4, 1)}},
        {"default": precision, "phi_2": {"result": typed(-1)}},
        {"default": precision, "phi_1": {"weight": typed(2)}, "phi_2": {"weight": typed(2)}},
    ]


def bench_grid(x_path: Path, y_path: Path, epochs: int, work: Path, loop_points: int) -> dict[str, float]:
    """Part 4: 12 uniform precisions × 8 per-layer variants through ``study`` vs the plain loop's per-point cost."""
    from deepsets_trigger.study import run_study

    grid = [variant for precision in SWEEP_PRECISIONS for variant in per_layer_variants(precision)]
    raw = sweep_config(x_path, y_path, epochs, grid)
    start = time.perf_counter()
    summary = run_study(raw, work / "grid", workers=2)
    study_s = time.perf_counter() - start
    loop_s, measured = plain_loop(sweep_config(x_path, y_path, epochs, SWEEP_PRECISIONS), work, limit=loop_points)
    return {"study_s": study_s, "loop_s": loop_s, "loop_points": measured, "ok": summary.ok, "points": summary.total}


def report_grid(t: dict[str, float]) -> None:
    per_point = t["loop_s"] / t["loop_points"]  # training included once: the estimate errs towards the loop
    estimate = per_point * t["points"]
    print(f"\n4. a {t['points']}-point grid (12 precisions × 8 per-layer variants) on one trained model:")
    print(f"   study (2 workers, twin) {t['study_s']:6.1f} s ({t['ok']} ok)")
    print(
        f"   plain hls4ml loop: {t['loop_s']:.1f} s for {t['loop_points']} points (training included) = "
        f"{per_point:.1f} s a point, × {t['points']} = {estimate:.0f} s"
    )
    print(f"   ratio {estimate / t['study_s']:.1f}x (target >= 10x)")


if __name__ == "__main__":
    raise SystemExit(main())
