"""Attribution by counterfactual re-emulation: how much of the gap each layer's rounding causes.

For each layer that rounds (a Dense/pointwise Conv1D, a pooling, a ReLU or linear pass-through
whose type is not a QKeras quantizer, the Input), the model is emulated again with only that
layer exact — its ``accum_t``/``result_t`` widened (:func:`.retype.exact_types`) until it computes
exactly what Keras computes from the same inputs, every other layer as configured — and the
logits are compared with Keras': recovered logit agreement and max |Δlogit| per layer. The
culprit is the shortest set of layers (grown greedily from the layer that recovers most on its
own: the smallest mean |Δlogit|) whose correction recovers the agreement that making every
candidate exact recovers.

Emulator: the firmware twin when it matched the compiled C++ bit for bit on this model (each
candidate then costs a re-typing and a NumPy pass), otherwise each candidate is compiled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.diagnose.retype import exact_types, layer_types, retyped
from deepsets_trigger.evaluate import compare_expected
from deepsets_trigger.precision import FixedType

MAX_SET = 8  # the greedy search stops here (each step costs one emulation per remaining candidate)


class Emulator:
    """Firmware outputs of ``conversion``'s model re-typed by a plan: the twin, or compiled C++.

    Args:
        conversion: the converted model (compiled already when ``kind`` is ``cpp``).
        x: the inputs.
        kind: ``twin`` (verified on this model) or ``cpp``.
        work: where the C++ of each candidate is written (``cpp`` only).
    """

    def __init__(self, conversion: Any, x: Any, kind: str, work: Path) -> None:
        self.conversion, self.x, self.kind, self.work = conversion, x, kind, work
        self.count = 0

    def __call__(self, types: dict[str, dict[str, FixedType]]) -> list[np.ndarray]:
        from deepsets_trigger.convert import compile_model, predict
        from deepsets_trigger.emulate import TwinUnsupported, build_twin

        self.count += 1
        with retyped(self.conversion.hls_model, types):
            if self.kind == "twin":
                try:
                    return build_twin(self.conversion.hls_model).predict(self.x)
                except TwinUnsupported:  # exact types too wide for the twin's float64: this candidate in C++
                    pass
            with _own_project(self.conversion, self.work / f"candidate_{self.count}"):
                compile_model(self.conversion)
                return predict(self.conversion, self.x)


@contextlib.contextmanager
def _own_project(conversion: Any, directory: Path) -> Iterator[None]:
    """Write and build a candidate in its own directory; the conversion keeps its own library."""
    config = conversion.hls_model.config.config
    saved = (config["OutputDir"], conversion.library)
    config["OutputDir"] = str(directory)
    try:
        yield
    finally:
        config["OutputDir"], conversion.library = saved


def score(keras_logits: np.ndarray, fw_logits: np.ndarray) -> dict[str, float]:
    """``{agreement, max_abs_logit_diff, mean_abs_logit_diff}``: same argmax (same side of 0.5 for one
    column) as Keras, and the largest and mean |Δ|."""
    compared = compare_expected(fw_logits, keras_logits)
    return {
        "agreement": compared["expected_agreement"],
        "max_abs_logit_diff": compared["expected_max_abs_diff"],
        "mean_abs_logit_diff": compared["expected_mean_abs_diff"],
    }


METRICS = ("agreement", "max_abs_logit_diff", "mean_abs_logit_diff")


def _key(result: dict[str, float]) -> tuple[float, float]:
    """Recovers most: the smallest mean |Δlogit| (every sample counts; the agreement moves by whole
    samples, a handful when the gap is rounding), then the larger agreement."""
    return -result["mean_abs_logit_diff"], result["agreement"]


@dataclass
class Attribution:
    """The counterfactuals of one diagnosis (``diagnosis.json``'s ``attribution``)."""

    emulator: str
    baseline: dict[str, float]
    all_exact: dict[str, float]
    layers: list[dict[str, Any]] = field(default_factory=list)
    culprits: list[str] = field(default_factory=list)
    recovered: dict[str, float] | None = None
    emulations: int = 0
    quantizers: dict[str, str] = field(default_factory=dict)  # candidates given back their quantizer's type

    @property
    def gain(self) -> float:
        """Agreement the culprit set recovers (0 when there is nothing to recover)."""
        return self.recovered["agreement"] - self.baseline["agreement"] if self.recovered else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "emulator": self.emulator,
            "baseline": self.baseline,
            "all_exact": self.all_exact,
            "layers": self.layers,
            "culprits": self.culprits,
            "recovered": self.recovered,
            "emulations": self.emulations,
            "quantizer_types": self.quantizers,
        }


def exact_plan(
    hls_model: Any, names: list[str], quantizer_typed: dict[str, FixedType | None]
) -> dict[str, dict[str, FixedType]]:
    """The exact types of the layers ``names`` together (each layer sees its re-typed inputs)."""
    plan: dict[str, dict[str, FixedType]] = {}
    for layer in hls_model.get_layers():
        if layer.name in names:
            with retyped(hls_model, plan):
                plan[layer.name] = exact_types(layer, layer.name in quantizer_typed, quantizer_typed.get(layer.name))
    return plan


def candidates(hls_model: Any, quantizer_typed: dict[str, FixedType | None]) -> list[str]:
    """Layers whose exact types differ from their configured ones (those that may round), in firmware order."""
    names = []
    for layer in hls_model.get_layers():
        exact = exact_types(layer, layer.name in quantizer_typed, quantizer_typed.get(layer.name))
        current = layer_types(layer)
        if exact and any(current.get(kind) != t for kind, t in exact.items()):
            names.append(layer.name)
    return names


def attribute(
    emulate: Emulator,
    keras_logits: np.ndarray,
    firmware_logits: np.ndarray,
    quantizer_typed: dict[str, FixedType | None],
) -> Attribution:
    """Per-layer counterfactuals and the culprit set (see the module docstring).

    Args:
        emulate: the emulator of the re-typed model (its first output is compared).
        keras_logits: Keras' values of that output; ``firmware_logits`` the firmware's as configured.
        quantizer_typed: QKeras activation layers and their quantizer's type (never widened; given
            that type back when the configuration replaced it).
    """
    hls_model = emulate.conversion.hls_model

    def run(names: list[str]) -> dict[str, Any]:
        plan = exact_plan(hls_model, names, quantizer_typed)
        result = score(keras_logits, emulate(plan)[0])
        return {**result, "types": {n: {k: t.ap() for k, t in kinds.items()} for n, kinds in plan.items()}}

    names = candidates(hls_model, quantizer_typed)
    baseline = score(keras_logits, firmware_logits)
    every = run(names) if names else {**baseline, "types": {}}
    found = Attribution(emulate.kind, baseline, {k: every[k] for k in METRICS})
    singles = {name: run([name]) for name in names}
    found.layers = [{"layer": name, **singles[name]} for name in names]
    found.quantizers = {n: t.ap() for n, t in quantizer_typed.items() if n in names and t is not None}
    if names and every["agreement"] > baseline["agreement"]:  # decisions to recover
        found.culprits, found.recovered = _shortest_set(names, singles, every, run, emulate.kind)
    found.emulations = emulate.count
    return found


def _shortest_set(
    names: list[str], singles: dict[str, dict[str, Any]], every: dict[str, Any], run: Any, kind: str
) -> tuple[list[str], dict[str, float]]:
    """Grow the set greedily from the best single layer until it recovers what all candidates recover.

    Returns the set in the order chosen (the layer that recovers most on its own first).

    With the compiled C++ (each step a compile per candidate) only the best single layer is taken.
    """
    best = max(names, key=lambda n: _key(singles[n]))
    chosen, result = [best], singles[best]
    while kind == "twin" and result["agreement"] < every["agreement"] and len(chosen) < min(MAX_SET, len(names)):
        trials = {n: run([*chosen, n]) for n in names if n not in chosen}
        step = max(trials, key=lambda n: _key(trials[n]))
        chosen, result = [*chosen, step], trials[step]
    return chosen, {k: result[k] for k in METRICS}
