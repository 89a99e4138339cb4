"""Type advisor for QAT and external models: the narrowest ``accum``/``result`` types per layer.

A QAT model's weights and activations are fixed by its QKeras quantizers; what the firmware
adds is the rounding of every ``accum_t``/``result_t`` in between (hls4ml's defaults, or a
user's YAML). The Input keeps its configured type (the interface to what feeds the firmware).
The advisor starts from every other such layer exact (:func:`.retype.exact_types`: integer
bits from a bound over every possible input, so nothing can overflow; fractional bits that make
every product and sum exact) and, layer by layer in firmware order, removes fractional bits
(bisection) while the firmware still reproduces that exact model's logits bit for bit on the
samples — or, with ``target_agreement``, while the logit agreement with Keras stays at or
above it. Each candidate is one re-typing and one emulation (the firmware twin when it is
verified on this model). The proposal is then written as ``advised_hls4ml_config.yml`` (every
layer's types explicit), converted again from that file, compiled, and its C++ outputs give the
reported numbers (and check the twin once more).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.diagnose.attribution import Emulator, candidates, exact_plan, score
from deepsets_trigger.diagnose.retype import layer_types, retyped
from deepsets_trigger.diagnose.verdict import quantizer_typed
from deepsets_trigger.io import plain, write_text_atomic
from deepsets_trigger.precision import FixedType

Plan = dict[str, dict[str, FixedType]]


class _Search:
    """Candidates evaluated against the goal; remembers how many emulations it took."""

    def __init__(self, emulate: Emulator, keras_logits: np.ndarray, target: float | None) -> None:
        self.emulate, self.keras_logits, self.target = emulate, keras_logits, target
        self.reference: np.ndarray | None = None

    def passes(self, plan: Plan) -> bool:
        logits = self.emulate(plan)[0]
        if self.target is not None:
            return score(self.keras_logits, logits)["agreement"] >= self.target
        return bool(np.array_equal(logits, self.reference))


def _with_fractional(t: FixedType, fractional: int) -> FixedType:
    return FixedType(t.integer + fractional, t.integer, t.signed, t.rounding, t.saturation)


def _narrowest(search: _Search, plan: Plan, name: str, kinds: tuple[str, ...]) -> Plan:
    """``plan`` with the fewest fractional bits for ``kinds`` of layer ``name`` that still pass (bisection)."""
    exact = plan[name]
    top = max(exact[k].fractional for k in kinds)
    low = 0

    def trial(f: int) -> Plan:
        layer = {**exact, **{k: _with_fractional(exact[k], min(f, exact[k].fractional)) for k in kinds}}
        return {**plan, name: layer}

    while low < top:
        mid = (low + top) // 2
        if search.passes(trial(mid)):
            top = mid
        else:
            low = mid + 1
    return trial(top)


def search_types(emulate: Emulator, keras_logits: np.ndarray, target: float | None) -> tuple[Plan, list[str]]:
    """The advised ``{layer: {accum|result: type}}`` (see the module docstring) and the layers searched."""
    hls_model = emulate.conversion.hls_model
    typed = quantizer_typed(hls_model, emulate.conversion.keras_model)
    # the Input's type is the interface to what feeds the firmware: kept as configured
    names = [n for n in candidates(hls_model, typed) if hls_model.graph[n].class_name != "Input"]
    plan = exact_plan(hls_model, names, typed)
    search = _Search(emulate, keras_logits, target)
    search.reference = emulate(plan)[0]
    for name in names:
        kinds = tuple(plan[name])
        plan = _narrowest(search, plan, name, kinds)  # accum and result together …
        if len(kinds) > 1:
            plan = _narrowest(search, plan, name, ("result",))  # … then the result alone
    return plan, names


def cost(conversion: Any) -> dict[str, Any]:
    """Total bits, BOPs, LUT and DSP of the converted model (analytic resource model)."""
    from deepsets_trigger.diagnose.advisor import total_bits
    from deepsets_trigger.resources import estimate

    resources = estimate(conversion.hls_model)
    return {
        "total_bits": total_bits(conversion.hls_model),
        **{key: resources[key] for key in ("bops", "lut", "dsp")},
    }


def advised_config(conversion: Any, plan: Plan) -> dict[str, Any]:
    """The conversion's hls4ml config with every layer's ``accum``/``result`` written out (plan applied)."""
    import copy

    config = copy.deepcopy(conversion.hls_config)
    with retyped(conversion.hls_model, plan):
        for layer in conversion.hls_model.get_layers():
            if layer.class_name == "Softmax":
                continue  # its tables and internal types stay as configured
            section = config.setdefault("LayerName", {}).setdefault(layer.name, {})
            if not isinstance(section.get("Precision"), dict):
                section["Precision"] = {} if section.get("Precision") is None else {"result": section["Precision"]}
            for kind, t in layer_types(layer).items():
                section["Precision"][kind] = t.hls()
            # hls4ml removes the linear pass-through it inserts only when it casts nothing: it must
            # take its producer's new type, else it would cast back to the model default
            linear = (config.get("LayerName") or {}).get(f"{layer.name}_linear")
            if isinstance(linear, dict) and f"{layer.name}_linear" not in conversion.hls_model.graph:
                linear.setdefault("Precision", {})
                if isinstance(linear["Precision"], dict) and "result" in layer_types(layer):
                    linear["Precision"]["result"] = layer_types(layer)["result"].hls()
    return config


def advise_types(
    model: Any,
    conversion: Any,
    hls: Any,
    x: Any,
    emulator: str,
    target_agreement: float | None,
    work: Path,
    out: Path,
) -> dict[str, Any]:
    """Search, write ``advised_hls4ml_config.yml``, verify it compiled; returns before / advised.

    Args:
        model: the Keras/QKeras model; ``conversion`` it as configured (compiled by the diagnosis),
            converted with the ``hls`` settings.
        x: the samples.
        emulator: ``twin`` (verified on this model) or ``cpp`` for the search.
        target_agreement: the logit agreement to keep; ``None``: reproduce the exact model bit for bit.
        work: scratch directory; ``out``: where the advised config is written.

    Returns:
        ``before``/``advised`` (agreement, max/mean |Δlogit|, total bits, BOPs, LUT, DSP), the advised
        types, the search's emulator and the C++ check of the twin on the advised model.
    """
    import yaml

    from deepsets_trigger.convert import compile_model, predict, reconvert
    from deepsets_trigger.emulate import build_twin, compare

    keras_out = conversion.keras_model.predict(x, verbose=0, batch_size=1024)
    keras_logits = np.asarray(keras_out[0] if isinstance(keras_out, list) else keras_out, dtype=np.float64)
    keras_logits = keras_logits.reshape(len(keras_logits), -1)
    emulate = Emulator(conversion, x, emulator, work)
    before_logits = predict(conversion, x)[0]
    plan, searched = search_types(emulate, keras_logits, target_agreement)
    config = advised_config(conversion, plan)
    path = out / "advised_hls4ml_config.yml"
    write_text_atomic(path, yaml.safe_dump(plain(config), sort_keys=False))
    advised = reconvert(model, config, hls, work / "advised_prj", work / "advised.log")
    compile_model(advised)
    cpp = predict(advised, x)
    check = compare(build_twin(advised.hls_model).predict(x), cpp) if emulator == "twin" else None
    return {
        "mode": "types",
        "goal": "reproduce the exact model's logits bit for bit"
        if target_agreement is None
        else f"logit agreement >= {target_agreement}",
        "emulator": emulator,
        "verified_by": "cpp",
        "before": {"label": "as configured", **score(keras_logits, before_logits), **cost(conversion)},
        "advised": {"label": "advised accum/result types", **score(keras_logits, cpp[0]), **cost(advised)},
        "types": {name: {k: t.ap() for k, t in plan[name].items()} for name in searched},
        "twin_check": check,
        "candidates_evaluated": emulate.count,
        "config": str(path),
    }
