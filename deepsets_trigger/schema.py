"""Dataclasses from plain mappings: every value checked against its annotation, errors named by key path."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import types
import typing
from typing import Any, Literal

from deepsets_trigger.errors import ToolkitError

# whole-number keys that must be positive, in any section (families' and sources' included)
POSITIVE_INTS = {
    "n_constituents",
    "epochs",
    "batch_size",
    "reuse_factor",
    "softmax_table_size",
    "n_samples",
    "n_classes",
    "frequency",
    "bits",
    "weight_bits",
    "activation_bits",
    "B_I",
    "B_H",
    "B_O",
    "A_I",
    "A_H",
    "A_O",
    "patience",
    "lr_patience",
    "phi_width",
    "ptq_integer_bits",
    "n_jets",
    "gen_workers",
    "n_events",
}


def check_value(path: str, value: Any, annotation: Any) -> Any:
    """``value`` checked against ``annotation`` (unions, literals, lists, dataclasses, scalars)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return check_value(path, value, arg)
            except ToolkitError as exc:
                errors.append(str(exc))
        raise ToolkitError(errors[0] if len(errors) == 1 else f"{path}: {value!r} is not valid ({'; '.join(errors)}).")
    if origin is Literal:
        if value not in args:
            raise ToolkitError(f"{path}: {value!r} is not one of {', '.join(map(repr, args))}.")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ToolkitError(f"{path}: expected a list, got {value!r}.")
        return [check_value(f"{path}[{i}]", v, args[0]) for i, v in enumerate(value)] if args else value
    if origin is dict:
        if not isinstance(value, dict):
            raise ToolkitError(f"{path}: expected a mapping, got {value!r}.")
        return value
    if dataclasses.is_dataclass(annotation):
        return from_dict(annotation, value, path)
    return _check_scalar(path, value, annotation)


def _check_scalar(path: str, value: Any, annotation: Any) -> Any:
    if annotation is bool:
        if not isinstance(value, bool):
            raise ToolkitError(f"{path}: expected true or false, got {value!r}.")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ToolkitError(f"{path}: expected a whole number, got {value!r}.")
        if path.rsplit(".", 1)[-1] in POSITIVE_INTS and value <= 0:
            raise ToolkitError(f"{path} must be positive, got {value}.")
        return value
    if annotation is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as text
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ToolkitError(f"{path}: expected a number, got {value!r}.")
        if not math.isfinite(value):
            raise ToolkitError(f"{path}: {value!r} is not a finite number; give a real value.")
        return float(value)
    if annotation is str and not isinstance(value, str):
        raise ToolkitError(f"{path}: expected text, got {value!r}.")
    return value


def from_dict(cls: type, raw: Any, path: str) -> Any:
    """An instance of the dataclass ``cls`` from the mapping ``raw`` (unknown keys refused)."""
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ToolkitError(f"{path}: expected a mapping of keys, got {raw!r}.")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in raw if k not in names]
    if unknown:
        where = f"{path}: unknown key" if path else "unknown top-level section"
        raise ToolkitError(f"{where} {unknown[0]!r}. Valid keys in {path or 'the config'}: {', '.join(names)}.")
    return cls(**{k: check_value(f"{path}.{k}" if path else k, v, hints[k]) for k, v in raw.items()})
