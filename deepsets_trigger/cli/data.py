"""``data``: generate physics data (Pythia8 jets, calorimeter clusters) and plot it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from deepsets_trigger.data.calo import CaloGenConfig, generate_calo, write_calo_file
from deepsets_trigger.data.plots import plot_data_file
from deepsets_trigger.data.pythia_jets import JetGenConfig, generate_jets, write_jet_file
from deepsets_trigger.io import check_replaceable_file


def add_parser(sub: Any) -> Any:
    """The ``data`` command; returns its subparsers so plugins can add data commands."""
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
    for name in ("jets", "calo", "plot"):
        data_sub.choices[name].set_defaults(func=command)
    return data_sub


def command(args: argparse.Namespace) -> int:

    if args.data_command == "jets":
        workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
        cfg = JetGenConfig(args.n_jets, args.seed, workers, args.pt_min, args.pt_max)
        cfg.validate()
        check_replaceable_file(Path(args.out))
        constituents, jets = generate_jets(cfg, progress=sys.stderr.isatty())
        write_jet_file(args.out, constituents, jets, cfg)
        print(f"jets: {len(jets)} written to {args.out}")
    elif args.data_command == "calo":
        particles = tuple(p.strip() for p in args.particles.split(",") if p.strip())
        cfg = CaloGenConfig(args.n_events, particles, args.e_min, args.e_max, args.pileup, args.seed)
        cfg.validate()
        check_replaceable_file(Path(args.out))
        write_calo_file(args.out, generate_calo(cfg, progress=sys.stderr.isatty()), cfg)
        print(f"calo: {args.n_events} events written to {args.out}")
    else:
        made = plot_data_file(args.file, args.out)
        print(f"plots: {', '.join(p.name for p in made)} in {args.out}")
    return 0
