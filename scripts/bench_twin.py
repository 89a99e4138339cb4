"""Benchmark of the firmware twin, measured in one run on this machine.

1. Emulation throughput: the twin vs the toolkit's C++ ``predict`` (hls4ml's compiled
   library, one call per sample) on the default DeepSets (φ 32-32-32, ρ 32, mean, 8
   constituents × 3 features, 5 classes), 10,000 samples, checked bit-exact; prints the ratio
   (target ≥ 50×).
2. Cost of one precision point: the naive hls4ml loop (convert + g++ compile + C++ predict)
   vs convert + build the twin + twin predict, for one PTQ precision, on the same samples.

Study-sweep benchmarks (the 12-precision PTQ sweep through ``study``, the 96-point grid) plug
in as further ``bench_*`` functions taking the :class:`Setup` built by :func:`default_setup`.

    PYTHONPATH=$PWD python scripts/bench_twin.py [--samples 10000] [--epochs 3] [--precision 'ap_fixed<12,4>']
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
    args = parser.parse_args(argv)
    precisions = args.precision or ["ap_fixed<12,4>", "ap_fixed<16,6>"]

    setup, train_s = _timed(default_setup, args.samples, args.epochs)
    print(f"default DeepSets trained for {args.epochs} epochs on toy jets in {train_s:.1f} s")
    exact = True
    for precision in precisions:
        with tempfile.TemporaryDirectory() as tmp:
            t = bench_point(setup, precision, Path(tmp))
        report_throughput(t, args.samples, precision)
        report_point(t, args.samples, precision)
        exact &= t["mismatched_samples"] == 0
    return 0 if exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
