"""The twin's layer handlers, keyed by hls4ml layer class (``layer.class_name``).

A handler has two parts: ``check(layer)`` — a cheap look at the layer's attributes that
says why the twin cannot mirror it (or ``None``) — and ``build(layer, ctx)`` which reads
its weights and types once and returns a :class:`Step`, the vectorised function the twin
runs for that layer. A model is mirrored only when every layer has a handler whose check
passes; anything else raises :class:`TwinUnsupported` naming the layer (never an
approximate number).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deepsets_trigger.emulate.fixed import MAX_EXACT_BITS
from deepsets_trigger.precision import FixedType, from_hls4ml


class TwinUnsupported(Exception):
    """The twin cannot mirror a layer of this model bit for bit; ``layer`` and ``class_name`` name it."""

    def __init__(self, layer: str, class_name: str, reason: str) -> None:
        super().__init__(f"layer '{layer}' ({class_name}): {reason}")
        self.layer = layer
        self.class_name = class_name
        self.reason = reason


@dataclass
class Step:
    """One layer of the firmware as the twin runs it.

    ``run(inputs)`` takes the input tensors as ``(N, size)`` arrays of exact fixed-point values
    and returns the output tensor the same way. Arrays are float64, or float32 where a step has
    proved float32 exact for its values (types of at most 24 bits); a step that does not say
    ``float32_in`` receives float64 only. ``plan`` says how (fast path or exact per-operation
    path, and why that is exact). ``run_owned``, where given, computes the same but may overwrite
    its inputs: the twin calls it when nothing else reads them (a prediction, not a trace).
    """

    name: str
    class_name: str
    inputs: list[str]
    output: str
    result: FixedType
    run: Callable[[list[np.ndarray]], np.ndarray]
    plan: str = ""
    float32_in: bool = False
    run_owned: Callable[[list[np.ndarray]], np.ndarray] | None = None


@dataclass
class BuildContext:
    """What a handler needs beyond its layer: the types of the tensors already produced."""

    types: dict[str, FixedType] = field(default_factory=dict)

    def input_type(self, layer: Any, index: int = 0) -> FixedType:
        return self.types[layer.inputs[index]]


@dataclass(frozen=True)
class Handler:
    check: Callable[[Any], str | None]
    build: Callable[[Any, BuildContext], Step]


HANDLERS: dict[str, Handler] = {}


def register(*class_names: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` for the hls4ml layer classes ``class_names``."""

    def add(handler: Handler) -> Handler:
        for name in class_names:
            HANDLERS[name] = handler
        return handler

    return add


# --- reading an hls4ml layer ------------------------------------------------------------


def type_problem(precision: Any, what: str) -> str | None:
    """Why ``precision`` is not a type the twin computes exactly, or ``None``."""
    t = from_hls4ml(precision)
    if t is None:
        return f"{what} is {precision} (only ap_fixed/ap_int types are mirrored)"
    if getattr(precision, "saturation_bits", 0) not in (0, None):
        return f"{what} {precision} uses saturation bits"
    if t.width > MAX_EXACT_BITS:
        return f"{what} {t.ap()} is wider than {MAX_EXACT_BITS} bits (float64 would round)"
    return None


def fixed(layer: Any, precision: Any, what: str) -> FixedType:
    """The :class:`FixedType` of ``precision`` or :class:`TwinUnsupported` naming ``layer``."""
    problem = type_problem(precision, what)
    if problem:
        raise TwinUnsupported(layer.name, layer.class_name, problem)
    t = from_hls4ml(precision)
    assert t is not None
    return t


def attr_type(layer: Any, name: str) -> FixedType:
    """The type of a layer attribute such as ``accum_t`` (a NamedType)."""
    named = layer.get_attr(name)
    if named is None:
        raise TwinUnsupported(layer.name, layer.class_name, f"has no {name}")
    return fixed(layer, named.precision, name)


def result_type(layer: Any) -> FixedType:
    return fixed(layer, layer.get_output_variable().type.precision, "result_t")


def config_text(layer: Any) -> str:
    """The C++ config struct(s) hls4ml generated for ``layer`` (what the compiled code sees)."""
    return layer.get_attr("config_cpp") or ""


def config_value(layer: Any, pattern: str) -> str | None:
    """First group of ``pattern`` in the layer's C++ config, e.g. ``r"exp_table_size = (\\d+);"``."""
    match = re.search(pattern, config_text(layer))
    return match.group(1) if match else None


def written_values(layer: Any, key: str) -> tuple[np.ndarray, FixedType]:
    """The flat array of weights ``key`` as the compiled C++ holds them, and their type.

    hls4ml prints each value with ``precision_fmt`` (``{:.Ff}``, F = fractional bits) into
    ``weights/<name>.txt``; the C++ reads each literal as a double (``istream >> double``)
    and converts it with the type's own rounding and overflow. The twin does the same with
    the same strings, so a weight that hls4ml prints rounded is rounded here too.
    """
    from deepsets_trigger.emulate.fixed import from_double

    var = layer.weights.get(key) if hasattr(layer, "weights") else None
    if var is None:
        raise TwinUnsupported(layer.name, layer.class_name, f"has no '{key}' weights")
    if type(var).__name__ not in ("WeightVariable", "StaticWeightVariable"):
        raise TwinUnsupported(layer.name, layer.class_name, f"{key} is a {type(var).__name__} (compressed weights)")
    t = fixed(layer, var.type.precision, f"{key}_t")
    literals = np.array([float(text) for text in var], dtype=np.float64)
    return from_double(literals, t), t
