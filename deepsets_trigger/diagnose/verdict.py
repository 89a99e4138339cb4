"""The diagnosis: the traced firmware (twin-verified when possible), the counterfactuals, the culprit.

Order of certainty: a layer whose weights are not the quantized Keras weights (no type change
can fix it); a softmax whose tables are wrong on its own inputs (see :mod:`.layers`) and change
at least as many decisions as the logits' error does; else the set of layers whose exact
re-emulation recovers the logit agreement (:mod:`.attribution`), named with its own overflow
cause (``wrap``, ``saturate``, ``accumulator``) or ``rounding``; else the first overflow-type
cause, softmax table or precision jump, as :func:`.layers.culprit` finds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.diagnose.attribution import Attribution, Emulator, attribute
from deepsets_trigger.diagnose.layers import LayerReport, culprit, match_keras
from deepsets_trigger.precision import FixedType, from_hls4ml


def verified_twin(
    conversion: Any, x: Any, outputs: list[np.ndarray], traced: dict[str, np.ndarray]
) -> tuple[Any, dict[str, Any] | None, str]:
    """``(twin or None, its check against the C++, note)``: the twin counts only when bit-exact.

    The check covers every output and every traced layer (float32 values, as the C++ stores them).
    """
    from deepsets_trigger.emulate import TwinUnsupported, build_twin, compare

    try:
        twin = build_twin(conversion.hls_model)
    except TwinUnsupported as exc:
        return None, None, f"the twin does not mirror this model ({exc}): every emulation is compiled C++"
    mine = twin.trace(x)
    names = [name for name in traced if name in mine]
    check = compare([*twin.predict(x), *(mine[n] for n in names)], [*outputs, *(traced[n] for n in names)])
    check["layers_compared"] = len(names)
    if check["mismatched_samples"]:
        return None, check, "the twin disagrees with the compiled C++ on this model: every emulation is compiled C++"
    return twin, check, "the twin matched the compiled C++ bit for bit on every output and traced layer"


def quantizer_typed(hls_model: Any, keras_model: Any) -> dict[str, FixedType | None]:
    """hls4ml activation layers of QKeras activations, with the type hls4ml derives from the quantizer.

    Their rounding is the model's own; a configured type other than the quantizer's (a user YAML's
    default) is a counterfactual candidate (see :func:`~.retype.exact_types`).
    """
    keras_layers = {layer.name: layer for layer in keras_model.layers}
    typed: dict[str, FixedType | None] = {}
    for layer in hls_model.get_layers():
        if layer.class_name != "Activation" or layer.get_attr("activation") == "linear":
            continue
        kname = match_keras(layer.name, set(keras_layers))
        if kname is None:  # a fused activation split off as "<layer>_<activation>"
            owners = [n for n in keras_layers if layer.name.startswith(f"{n}_")]
            kname = max(owners, key=len) if owners else None
        if kname is not None and type(keras_layers[kname]).__module__.startswith("qkeras"):
            typed[layer.name] = _quantizer_type(layer)
    return typed


def _quantizer_type(layer: Any) -> FixedType | None:
    """The type hls4ml's own QKeras configuration gives the activation (``None`` when it has none)."""
    from hls4ml.utils.config import _get_precision_from_quantizer  # hls4ml's rule, not a copy of it

    quantizer = layer.get_attr("activation_quantizer")
    try:
        return from_hls4ml(_get_precision_from_quantizer(quantizer)) if quantizer else None
    except Exception:  # an activation quantizer hls4ml has no type for
        return None


def counterfactuals(
    conversion: Any, x: Any, outputs: list[np.ndarray], keras_logits: np.ndarray, kind: str, work: Path
) -> Attribution:
    """The per-layer counterfactuals of ``conversion`` (emulator ``kind``) against ``keras_logits``."""
    typed = quantizer_typed(conversion.hls_model, conversion.keras_model)
    return attribute(Emulator(conversion, x, kind, work), keras_logits, outputs[0], typed)


def verdict(reports: list[LayerReport], attribution: Attribution | None, n: int) -> dict[str, Any]:
    """``{culprit_layer, culprit_hls_layer, culprit_layers, cause, explanation}`` of ``n`` samples.

    See the module docstring for the order.
    """
    broken = [r for r in reports if r.cause == "weights"]  # no type change can fix these
    table = next((r for r in reports if r.cause == "softmax table"), None)
    logit_flips = round((1 - attribution.baseline["agreement"]) * n) if attribution is not None else 0
    # decisions first: the tables are the culprit when they change at least as many decisions (argmax
    # of the same logits) as the logits' own error does; wrong probability values that change fewer
    # stay a finding on the softmax row
    tables_first = table is not None and (table.decision_flips or 0) >= max(logit_flips, 1)
    if not broken and not tables_first and attribution is not None and attribution.gain > 0:
        return _rounding_verdict(reports, attribution)
    found = broken[0] if broken else table if tables_first else culprit(reports)
    also = ""
    if found is table and table is not None and logit_flips:
        also = f"; the logits' own error changes {logit_flips} (see the counterfactuals)"
    return {
        "culprit_layer": found.keras_layer if found else None,
        "culprit_hls_layer": found.hls_layer if found else None,
        "culprit_layers": [found.hls_layer] if found else [],
        "cause": found.cause if found else None,
        "explanation": (found.detail + also)
        if found
        else "no layer leaves its type's range and no error jump was found",
    }


def _rounding_verdict(reports: list[LayerReport], attribution: Attribution) -> dict[str, Any]:
    """The culprit set of the counterfactuals: each member keeps an overflow cause, else gets ``rounding``."""
    rows = {r.hls_layer: r for r in reports}
    for name in attribution.culprits:
        row = rows.get(name)
        if row is not None and name in attribution.quantizers:
            row.cause, row.detail = "quantizer type", _quantizer_detail(name, row.firmware_type, attribution)
        elif row is not None and row.cause in (None, "precision"):
            row.cause, row.detail = "rounding", _rounding_detail(name, row.firmware_type, attribution)
    first = attribution.culprits[0]
    row = rows.get(first)  # the Input is not traced: it has no row
    detail = row.detail if row is not None else _rounding_detail(first, "its type", attribution)
    return {
        "culprit_layer": row.keras_layer if row is not None else first,
        "culprit_hls_layer": first,
        "culprit_layers": list(attribution.culprits),
        "cause": row.cause if row is not None else "rounding",
        "explanation": detail,
    }


def _quantizer_detail(name: str, firmware_type: str | None, a: Attribution) -> str:
    return (
        f"its firmware type {firmware_type} is not its QKeras quantizer's {a.quantizers[name]} (the configuration's "
        f"type replaced it, so the firmware neither rounds nor clips to the quantizer's grid): with the quantizer's "
        f"type the logit agreement rises from {a.baseline['agreement']:.4f} to {a.recovered['agreement']:.4f} "
        f"(max |Δlogit| {a.baseline['max_abs_logit_diff']:.3g} → {a.recovered['max_abs_logit_diff']:.3g}); "
        f"re-emulated with the {a.emulator}"
    )


def _rounding_detail(name: str, firmware_type: str | None, a: Attribution) -> str:
    others = [n for n in a.culprits if n != name]
    together = f" (together with {', '.join(others)})" if others else ""
    single = next((r for r in a.layers if r["layer"] == name), None)
    alone = (
        f"; alone it gives {single['agreement']:.4f} (max |Δlogit| {single['max_abs_logit_diff']:.3g})"
        if single and others
        else ""
    )
    return (
        f"truncation below the LSB of {firmware_type} accumulates across layers: making it exact{together} "
        f"raises the logit agreement from {a.baseline['agreement']:.4f} to {a.recovered['agreement']:.4f} "
        f"(max |Δlogit| {a.baseline['max_abs_logit_diff']:.3g} → {a.recovered['max_abs_logit_diff']:.3g}){alone}; "
        f"re-emulated with the {a.emulator}"
    )
