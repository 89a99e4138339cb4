"""The hls4ml 1.3.0 defects the toolkit handles: an ordered registry of small, named fixes.

Each fix is one module here (or a model family's, registered by its plugin) declared as a
:class:`Fix`: the defect in one line, the hls4ml version and upstream issue it works around,
``applies`` and ``apply``. :func:`deepsets_trigger.convert.convert` runs the phases in order:

- ``keras``: the Keras functional config, before the model is rebuilt for hls4ml —
  ``apply(layers_config, ctx)`` edits the config dict;
- ``weights``: the rebuilt Keras model, in place — ``apply(model, ctx)``;
- ``config``: the hls4ml config, read against the types a first conversion infers —
  ``apply(config, graph, ctx)`` with ``graph`` from :func:`read_graph`;
- ``model``: the final converted hls4ml model — ``apply(hls_model, ctx)``.

Every ``apply`` returns notes (they become ``conversion_notes``). A fix is deleted when hls4ml
fixes its defect; the README's trap table is checked against this registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from deepsets_trigger.convert.fixes.graph import LayerTypes, layer_cfg, read_graph, set_type, softmax_inputs
from deepsets_trigger.precision import FixedType

__all__ = [
    "PHASES",
    "Fix",
    "FixContext",
    "LayerTypes",
    "apply_phase",
    "fixes",
    "layer_cfg",
    "read_graph",
    "register_fix",
    "set_type",
    "softmax_inputs",
]

PHASES = ("keras", "weights", "config", "model")
Phase = Literal["keras", "weights", "config", "model"]


@dataclass(frozen=True)
class Fix:
    """One known defect and its correction.

    Attributes:
        name: the fix's name (module and README row).
        phase: where it runs (see the module docstring).
        summary: the defect, one line.
        apply: the correction; returns notes.
        applies: optional predicate on the same first argument(s) as ``apply``; ``None``: always.
        hls4ml: the hls4ml version whose defect it handles.
        upstream: the hls4ml issue or pull request, when there is one.
        trap: the number of the trap in the project's list, if it is one of them.
        order: position within the phase (lower first).
    """

    name: str
    phase: Phase
    summary: str
    apply: Callable[..., list[str]]
    applies: Callable[..., bool] | None = None
    hls4ml: str = "1.3.0"
    upstream: str | None = None
    trap: str | None = None
    order: int = 50


@dataclass
class FixContext:
    """What the fixes need beyond the model: settings, user choices, calibration, earlier phases' findings."""

    hls: Any = None  # HLSSettings
    hls_config: dict[str, Any] = field(default_factory=dict)  # the starting hls4ml config
    user_results: set[str] = field(default_factory=set)  # layers whose result type the user chose
    output_ranges: dict[str, float] = field(default_factory=dict)  # Keras layer -> max |value|
    input_quantizer_type: FixedType | None = None
    input_precision: FixedType | None = None
    softmax_table_size: int | None = 1024  # None: keep the user's (or hls4ml's) table size
    reuse_factor: int = 1  # the requested model-wide reuse factor
    backend: str = "Vitis"
    user_config: bool = False  # the starting config is the user's hls4ml config, not generated
    renames: dict[str, str] = field(default_factory=dict)  # keras phase: new layer name -> original
    source_model: Any = None  # the model before the keras phase
    result_types: dict[str, FixedType] = field(default_factory=dict)  # found early, applied in the config phase


_FIXES: list[Fix] = []
_builtin_loaded = False


def register_fix(fix: Fix) -> None:
    """Add ``fix`` (a family's, too); a fix of the same name is replaced."""
    _FIXES[:] = [f for f in _FIXES if f.name != fix.name] + [fix]
    _FIXES.sort(key=lambda f: (PHASES.index(f.phase), f.order))


def _register_builtin() -> None:
    global _builtin_loaded
    if _builtin_loaded:
        return
    _builtin_loaded = True
    from deepsets_trigger.convert.fixes import (
        dropped_quantizers,
        input_type,
        linear_passthrough,
        logits_type,
        pointwise_parallel,
        pooling_accumulator,
        reserved_names,
        reuse_factor,
        softmax_tables,
        standalone_softmax,
        weight_rounding,
    )

    for module in (
        reserved_names,
        standalone_softmax,
        dropped_quantizers,
        reuse_factor,
        pointwise_parallel,
        input_type,
        pooling_accumulator,
        logits_type,
        linear_passthrough,
        softmax_tables,
        weight_rounding,
    ):
        register_fix(module.FIX)


def fixes(phase: Phase | None = None) -> list[Fix]:
    """The registered fixes (of one phase), in the order they run: the toolkit's and the families'."""
    from deepsets_trigger.registry import load_plugins

    _register_builtin()
    load_plugins()
    return [f for f in _FIXES if phase is None or f.phase == phase]


def apply_phase(phase: Phase, *target: Any, ctx: FixContext) -> list[str]:
    """Apply every fix of ``phase`` whose ``applies`` holds; return their notes."""
    notes: list[str] = []
    for fix in fixes(phase):
        if fix.applies is None or fix.applies(*target, ctx):
            notes.extend(fix.apply(*target, ctx))
    return notes
