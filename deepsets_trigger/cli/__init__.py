"""``deepsets-trigger`` command line: parse, call one building block, print, exit.

One module per command (``run``, ``study``/``report``, ``data``, ``resources``, ``diagnose``);
plugins add theirs through :mod:`deepsets_trigger.registry`. Exit codes: 0 success, 1 a run that
failed after its input was accepted (recorded in ``result.json``), 2 bad input (one line naming
the problem and the fix; nothing written), 130 Ctrl-C, 143 SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from deepsets_trigger import __version__, registry
from deepsets_trigger.cli import data, diagnose, resources, run, study
from deepsets_trigger.errors import ToolkitError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepsets-trigger",
        description="Train DeepSets/GNN trigger models, convert them with hls4ml and measure the firmware gap.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run.add_parser(sub)
    study.add_parsers(sub)
    data_sub = data.add_parser(sub)
    resources.add_parser(sub)
    diagnose.add_parser(sub)
    for command in registry.commands().values():
        command.add(sub, data_sub)
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
