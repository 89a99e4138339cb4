"""Benchmark of the jet generator, measured in one run on this machine.

Per class: jets/s of the generator (Pythia8 + fjcore anti-kT + selection + features) against
a bare Pythia event loop with the same settings (events/s), both including initialisation;
the ratio is the generator's cost per core. Then the generator's rate with 2 workers.

    python scripts/bench_generation.py [--jets N]
"""

from __future__ import annotations

import argparse
import time

from deepsets_trigger.data.jet_features import JET_CLASSES
from deepsets_trigger.data.pythia_jets import (
    JetGenConfig,
    _generate_share,
    generate_jets,
    make_pythia,
    silence_fastjet_banner,
)


def bare_loop(cls: str, n: int, seed: int) -> float:
    start = time.perf_counter()
    pythia = make_pythia(cls, seed, 900.0, 1100.0)
    done = 0
    while done < n:
        if pythia.next():
            done += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=1000, help="jets (and bare events) per class")
    args = parser.parse_args()
    silence_fastjet_banner()
    cfg = JetGenConfig(n_jets=args.jets, workers=1)
    ratios = []
    print(f"{'class':>5} {'bare ev/s':>10} {'generator jets/s':>17} {'ratio':>6}")
    for c, cls in enumerate(JET_CLASSES):
        bare = bare_loop(cls, args.jets, 17)
        start = time.perf_counter()
        _generate_share(c, args.jets, 17, cfg, lambda: None)
        generator = args.jets / (time.perf_counter() - start)
        ratios.append(generator / bare)
        print(f"{cls:>5} {bare:10.0f} {generator:17.0f} {generator / bare:6.2f}")
    print(f"mean ratio (generator jets/s / bare events/s, one core): {sum(ratios) / len(ratios):.2f}")
    for workers in (1, 2):
        start = time.perf_counter()
        generate_jets(JetGenConfig(n_jets=5 * args.jets, workers=workers, seed=3))
        rate = 5 * args.jets / (time.perf_counter() - start)
        print(f"generate_jets with {workers} worker(s): {rate:.0f} jets/s (all classes, start-up included)")


if __name__ == "__main__":
    main()
