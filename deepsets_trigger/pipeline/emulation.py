"""Which emulator gives a point its firmware numbers: hls4ml's compiled C++, the twin, or both.

Plans: ``cpp`` compiles and runs the C++; ``check`` does that and runs the firmware twin on the
same samples, recording ``twin_check`` (the twin is verified on the model when it matches bit
for bit); ``verify`` is ``check`` with a quick (unoptimised, parallel) build, for a study's
verifying points; ``twin`` runs only the twin — a study uses it for the points of a trained model whose
twin another point verified. ``hls.emulator: cpp`` always means ``cpp``; ``auto`` and ``twin``
check when the point compiles. With ``twin``, a layer the twin cannot mirror is an error, and the
reported numbers are the twin's (verified, or the point fails); with ``auto``, a ``twin`` point whose
firmware the twin cannot mirror (another strategy of the same trained model, say) is compiled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deepsets_trigger.config import Config
from deepsets_trigger.convert import predict, start_build
from deepsets_trigger.emulate import TwinUnsupported, build_twin, compare
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.precision import from_hls4ml

PLANS = ("cpp", "check", "verify", "twin")
TWIN_FAULT = "DEEPSETS_TRIGGER_TWIN_FAULT"  # fault injection for tests: the twin's first output moves by one LSB


@dataclass
class Emulation:
    """The firmware outputs of a point, who produced them, and the twin's check."""

    outputs: list[np.ndarray]
    emulator: str
    twin_check: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def default_plan(cfg: Config) -> str:
    """The plan of a point run on its own (``run``): check the twin unless the C++ alone is asked for."""
    return "cpp" if cfg.hls.emulator == "cpp" else "check"


def twin_of(cfg: Config, hls_model: Any) -> tuple[Any, str | None]:
    """The twin of ``hls_model``, or ``(None, why not)``; with ``hls.emulator: twin`` a refusal is an error."""
    if cfg.hls.emulator == "cpp":
        return None, None
    try:
        return build_twin(hls_model), None
    except TwinUnsupported as exc:
        if cfg.hls.emulator == "twin":
            raise ToolkitError(f"hls.emulator twin: {exc}; use hls.emulator: auto (the C++ then) or cpp.") from None
        return None, f"the twin does not mirror this model ({exc}): the compiled C++ gives the numbers"


@dataclass
class Started:
    """An emulation under way: the twin (if any), the C++ build (if any), the plan."""

    cfg: Config
    conversion: Any
    plan: str
    twin: Any
    build: Any
    notes: list[str]


def start_emulation(cfg: Config, conversion: Any, timer: Any, plan: str) -> Started:
    """Build the twin and start the C++ build the plan needs (a ``verify`` build runs in the background)."""
    twin, why_not = twin_of(cfg, conversion.hls_model) if plan != "cpp" else (None, None)
    if twin is None and plan == "twin":
        if cfg.hls.emulator == "twin":
            raise RuntimeError(f"the twin was asked for a model it cannot mirror: {why_not}")
        plan = "check"  # this point's firmware differs from the verified points' (e.g. another strategy)
    build = None
    if plan != "twin":
        with timer("compile_s"):
            build = start_build(conversion, quick=plan == "verify")
    return Started(cfg, conversion, plan, twin, build, [why_not] if why_not else [])


def finish_emulation(started: Started, x: list[np.ndarray], timer: Any) -> Emulation:
    """Firmware outputs on ``x``: the C++'s, the twin's, and their comparison (see the module docstring)."""
    cfg, conversion, twin, notes = started.cfg, started.conversion, started.twin, started.notes
    cpp = None
    if started.build is not None:
        with timer("compile_s"):
            started.build.wait()
        with timer("predict_s"):
            cpp = predict(conversion, x)
    if twin is None:
        return Emulation(cpp, "cpp", None, notes)
    with timer("twin_s"):
        mirrored = _maybe_faulty(twin.predict(x), conversion.hls_model)
    if cpp is None:
        timer.timings["predict_s"] = timer.timings["twin_s"]
        return Emulation(mirrored, "twin", None, notes)
    check = compare(mirrored, cpp)
    if cfg.hls.emulator != "twin":
        return Emulation(cpp, "cpp", check, notes)
    if check["mismatched_samples"]:
        raise RuntimeError(
            f"the twin disagrees with the compiled C++ on {check['mismatched_samples']} of {check['samples']} "
            f"samples (max |Δ| {check['max_abs_diff']:.3g}); set hls.emulator: auto to use the C++"
        )
    return Emulation(mirrored, "twin", check, notes)


def _maybe_faulty(outputs: list[np.ndarray], hls_model: Any) -> list[np.ndarray]:
    """Tests set :data:`TWIN_FAULT` to prove that a wrong twin is caught: one LSB of one value moves."""
    if not os.environ.get(TWIN_FAULT):
        return outputs
    t = from_hls4ml(hls_model.get_output_variables()[0].type.precision)
    moved = [o.copy() for o in outputs]
    moved[0][0, 0] += 2.0 ** -(t.fractional if t is not None else 10)
    return moved
