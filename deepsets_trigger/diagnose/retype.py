"""Re-typing layers of a converted hls4ml model in place: what a counterfactual or a candidate changes.

A layer's ``result_t`` is the named type of its output variable (the next layer reads the same
object) and its ``accum_t`` a named type of its own; both are changed by swapping the precision
of that named type, so the generated C++ (``typedef <name> accum_t;``), the written project and
the firmware twin all see the new type, and every other layer keeps exactly what it had.
:func:`retyped` restores the model afterwards.

:func:`exact_types` gives the types under which a layer computes its values exactly from what it
receives (no product, sum or division rounds or overflows): the firmware's value then equals
the real-number value Keras computes in float32 from the same inputs.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from deepsets_trigger.emulate.fixed import MAX_EXACT_BITS, fractional_bits_of, max_abs
from deepsets_trigger.precision import FixedType, from_hls4ml, integer_bits_for

KINDS = ("accum", "result")
INPUT_BITS = 32  # a widened Input: float32 inputs keep 24 significant bits, this keeps them all for |x| ≥ 2^-8
EXTRA_DIVISION_BITS = 24  # a mean over n (not a power of two) is exact to float32 precision with these


def hls_precision(t: FixedType) -> Any:
    """The hls4ml (Vivado/Vitis writer) precision object of ``t``."""
    from hls4ml.backends.fpga.fpga_types import APTypeConverter
    from hls4ml.model.types import FixedPrecisionType, RoundingMode, SaturationMode

    base = FixedPrecisionType(
        t.width,
        t.integer,
        t.signed,
        RoundingMode.from_string(t.rounding),
        SaturationMode.from_string(t.saturation),
    )
    return APTypeConverter().convert(base)


def _named(layer: Any, kind: str) -> Any:
    if kind == "result":
        return layer.get_output_variable().type
    return layer.get_attr("accum_t")


def layer_types(layer: Any) -> dict[str, FixedType]:
    """The layer's current ``accum``/``result`` types (those it has)."""
    out = {}
    for kind in KINDS:
        named = _named(layer, kind)
        t = from_hls4ml(getattr(named, "precision", None)) if named is not None else None
        if t is not None:
            out[kind] = t
    return out


@contextlib.contextmanager
def retyped(hls_model: Any, types: dict[str, dict[str, FixedType]]) -> Iterator[None]:
    """Within the block, ``hls_model``'s layers have the ``{layer: {accum|result: type}}`` given.

    Layers are re-typed in firmware order; a layer's exact type (``exact_types``) read inside
    the block sees its re-typed inputs. The model is restored on exit, whatever happened.
    """
    saved: list[tuple[Any, Any]] = []
    try:
        for layer in hls_model.get_layers():
            for kind, t in types.get(layer.name, {}).items():
                named = _named(layer, kind)
                if named is None:
                    continue
                saved.append((named, named.precision))
                named.precision = hls_precision(t)
        yield
    finally:
        for named, precision in reversed(saved):
            named.precision = precision


def _input_type(layer: Any) -> FixedType | None:
    return from_hls4ml(layer.get_input_variable().type.precision)


def exact_types(layer: Any, quantizer_typed: bool, quantizer: FixedType | None = None) -> dict[str, FixedType]:
    """``{accum|result: type}`` under which ``layer`` computes exactly from its (current) input type.

    Empty for layers whose types are not a rounding step to remove: a softmax (its tables are
    judged separately), an activation whose type is a QKeras quantizer (``quantizer_typed``: the
    rounding is the model's own), table activations, and layers of other classes. A QKeras
    activation whose configured type is not its ``quantizer``'s (a user YAML's default replaced
    it: no clipping at the quantizer's range) gets the quantizer's type: what Keras computes.
    Widths stay within float64 (53 bits, so the twin stays exact); beyond that the last bits
    are below float32's precision of the Keras values anyway.
    """
    cls = layer.class_name
    x = _input_type(layer) if cls != "Input" else None
    if cls == "Input":
        t = from_hls4ml(layer.get_output_variable().type.precision)
        return {"result": _fit(t.integer, INPUT_BITS - t.integer)} if t is not None else {}
    if quantizer_typed:
        current = from_hls4ml(layer.get_output_variable().type.precision)
        return {"result": quantizer} if quantizer is not None and current != quantizer else {}
    if x is None:
        return {}
    if cls in ("Dense", "PointwiseConv1D", "Conv1D"):
        return _dense_exact(layer, x)
    if cls == "GlobalPooling1D":
        n = int(layer.get_input_variable().shape[0])
        if layer.get_attr("pool_op") == "Max":
            return {"accum": x, "result": x}
        grow = math.ceil(math.log2(n)) if n > 1 else 0  # y /= n keeps accum_t's LSB: grow it by log2 n
        extra = 0 if n & (n - 1) == 0 else EXTRA_DIVISION_BITS
        t = _fit(integer_bits_for(n * max_abs(x)), x.fractional + grow + extra)
        return {"accum": t, "result": t}
    if cls == "Activation" and layer.get_attr("activation") in ("linear", "relu"):
        return {"result": FixedType(x.width, x.integer, x.signed)}
    return {}


def _dense_exact(layer: Any, x: FixedType) -> dict[str, FixedType]:
    """Products exact (F_x + the weights' own fractional bits), sums within range for any input."""
    from deepsets_trigger.emulate.registry import written_values

    w, _ = written_values(layer, "weight")
    b, _ = written_values(layer, "bias") if layer.weights.get("bias") is not None else (np.zeros(1), None)
    fractional = max(x.fractional + fractional_bits_of(w), fractional_bits_of(b))
    n_out = b.size if b.size > 1 else int(layer.get_attr("n_out") or layer.get_attr("n_filt") or 1)
    per_output = np.abs(w).reshape(-1, n_out).sum(axis=0) if w.size % n_out == 0 else np.abs(w).sum()
    bound = float(np.max(per_output)) * max_abs(x) + float(np.max(np.abs(b)))
    t = _fit(integer_bits_for(bound), fractional)
    return {"accum": t, "result": t}


def _fit(integer: int, fractional: int) -> FixedType:
    """``ap_fixed<I+F, I>`` with at most :data:`MAX_EXACT_BITS` bits (fractional bits give way)."""
    integer = max(integer, 1)
    return FixedType(integer + max(min(fractional, MAX_EXACT_BITS - integer), 0), integer)
