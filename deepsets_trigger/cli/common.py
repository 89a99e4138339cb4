"""What several commands share: ``--set`` overrides, ``--trust-custom-layers``, number formatting."""

from __future__ import annotations

import argparse
from typing import Any

from deepsets_trigger.config import parse_yaml, read_yaml_mapping, set_path
from deepsets_trigger.errors import ToolkitError


def parse_override(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``--set``, the value read as YAML."""
    if "=" not in text:
        raise ToolkitError(f"--set {text!r}: write KEY=VALUE, e.g. --set quantization.weight_bits=6.")
    key, value = text.split("=", 1)
    return key.strip(), parse_yaml(value, f"--set {text!r}: the value")


def raw_config(path: str | None, overrides: list[str] | None) -> dict[str, Any]:
    """The YAML config (or nothing) with the ``--set`` overrides applied."""
    raw = read_yaml_mapping(path, "config file") if path is not None else {}
    for override in overrides or []:
        set_path(raw, *parse_override(override))
    return raw


def add_trust(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-custom-layers",
        dest="trust_custom_layers",
        action="append",
        metavar="MODULE",
        help="accept the Keras layer classes of MODULE (a module name or .py path) in --model; this IMPORTS AND "
        "RUNS that module's code. Without it, model files may hold Keras/QKeras layers only",
    )


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)
