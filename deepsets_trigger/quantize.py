"""Quantization specs: QAT bit widths per region (QKeras) and PTQ precisions (hls4ml types).

QAT regions follow the jet-DeepSets papers' notation: B_I / A_I for the first φ layer's
weights / activations, B_H / A_H for the hidden φ and ρ layers, B_O for the output layer
(and A_O for its output, only when given). Quantizers use ``alpha=1`` so that a QKeras
value is exactly an ``ap_fixed`` value and hls4ml needs no scale layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deepsets_trigger.precision import FixedType, parse_precision

DEFAULT_BITS = 8
PLACEHOLDER_INTEGER_BITS = 6  # data-derived PTQ before the calibration ranges are known


@dataclass(frozen=True)
class QATWidths:
    """Resolved QAT widths per region."""

    B_I: int
    B_H: int
    B_O: int
    A_I: int
    A_H: int
    A_O: int | None
    integer_bits: int
    activation_integer_bits: int
    input_type: FixedType


def qat_widths(q: Any) -> QATWidths:
    """Resolve ``bits`` → ``weight_bits``/``activation_bits`` → region overrides."""
    weight = q.weight_bits or q.bits or DEFAULT_BITS
    act = q.activation_bits or q.bits or DEFAULT_BITS
    return QATWidths(
        B_I=q.B_I or weight,
        B_H=q.B_H or weight,
        B_O=q.B_O or weight,
        A_I=q.A_I or act,
        A_H=q.A_H or act,
        A_O=q.A_O,
        integer_bits=q.integer_bits,
        activation_integer_bits=q.activation_integer_bits,
        input_type=parse_precision(q.input_precision, where="quantization.input_precision"),
    )


def weight_quantizer(bits: int, integer: int) -> Any:
    """``quantized_bits`` for weights and biases: ``ap_fixed<bits, integer+1>``."""
    from qkeras import quantized_bits

    return quantized_bits(bits, integer, alpha=1)


def relu_quantizer(bits: int, integer: int) -> Any:
    """``quantized_relu``: ``ap_ufixed<bits, integer, AP_RND_CONV, AP_SAT>`` in hls4ml."""
    from qkeras import quantized_relu

    return quantized_relu(bits, integer)


def input_quantizer(input_type: FixedType) -> Any:
    """Input quantizer equal to the firmware input type (signed ``ap_fixed<W,I>``)."""
    from qkeras import quantized_bits

    return quantized_bits(input_type.width, input_type.integer - 1, alpha=1)


def ptq_layer_precisions(q: Any) -> tuple[FixedType, dict[str, dict[str, FixedType]]]:
    """Split a PTQ spec into (default type, {layer: {weight|bias|result|accum: type}}).

    ``bits: W`` (a grid axis shared with QAT) means ``ap_fixed<W, min(W, ptq_integer_bits)>``; with
    ``ptq_integer_bits: null`` the integer bits come per layer from the data (:func:`calibrated`),
    and until then the default type holds :data:`PLACEHOLDER_INTEGER_BITS`.
    """
    precision = q.precision
    if precision is None and q.bits is not None:
        integer = PLACEHOLDER_INTEGER_BITS if q.ptq_integer_bits is None else q.ptq_integer_bits
        return FixedType(q.bits, min(q.bits, integer)), {}
    if precision is None:
        return parse_precision("ap_fixed<16,6>"), {}
    if isinstance(precision, str):
        return parse_precision(precision, where="quantization.precision"), {}
    default = parse_precision(precision.get("default", "ap_fixed<16,6>"), where="quantization.precision.default")
    layers: dict[str, dict[str, FixedType]] = {}
    for name, spec in precision.items():
        if name == "default":
            continue
        if isinstance(spec, str):
            t = parse_precision(spec, where=f"quantization.precision.{name}")
            layers[name] = {"weight": t, "bias": t, "result": t}
        else:
            layers[name] = {k: parse_precision(v, where=f"quantization.precision.{name}.{k}") for k, v in spec.items()}
    return default, layers


@dataclass(frozen=True)
class Precision:
    """What the firmware types are, for the converter and the result record."""

    mode: str
    default: FixedType
    layers: dict[str, dict[str, FixedType]]
    weight_bits: int | None
    activation_bits: int | None
    integer_bits: int | None
    calibrate: bool = False  # PTQ bits W: integer bits per layer from the calibration ranges (calibrated())
    notes: tuple[str, ...] = ()


def calibrated(precision: Precision, bits: dict[str, dict[str, int]]) -> Precision:
    """``precision`` (PTQ at W bits) with each layer's integer bits from ``bits``.

    Args:
        precision: a :class:`Precision` with ``calibrate`` set.
        bits: ``{layer: {weight|bias|result: I}}`` (sign included), e.g. from the calibration ranges.

    Returns:
        Per-layer ``ap_fixed<W, min(W, I)>`` for weights, biases and results separately; the default
        type (layers hls4ml inserts) takes the largest result I; a note lists every layer's I.
    """
    import dataclasses

    w = precision.default.width
    layers = {name: {kind: FixedType(w, min(w, i)) for kind, i in kinds.items()} for name, kinds in bits.items()}
    results = [kinds["result"] for kinds in bits.values() if "result" in kinds]
    default = FixedType(w, min(w, max(results))) if results else precision.default
    listed = "; ".join(
        f"{name} " + ", ".join(f"{kind} {t.integer}" for kind, t in kinds.items()) for name, kinds in layers.items()
    )
    note = (
        f"PTQ ap_fixed<{w},I>: integer bits I per layer from the calibration ranges "
        f"(quantization.ptq_integer_bits: null): {listed}"
    )
    return dataclasses.replace(
        precision, default=default, layers=layers, integer_bits=default.integer, calibrate=False, notes=(note,)
    )


def is_qkeras(model: Any) -> bool:
    return any(layer.__class__.__module__.startswith("qkeras") for layer in model.layers)


def qkeras_bits(model: Any) -> tuple[int | None, int | None, int | None]:
    """(weight bits, weight integer bits, activation bits) of the first quantized layers."""
    kernels = [q for q in (getattr(layer, "kernel_quantizer_internal", None) for layer in model.layers) if q]
    relus = [
        layer.quantizer
        for layer in model.layers
        if layer.__class__.__name__ == "QActivation" and "relu" in layer.quantizer.__class__.__name__
    ]
    first = kernels[0] if kernels else None
    return (
        getattr(first, "bits", None),
        getattr(first, "integer", None),
        getattr(relus[0], "bits", None) if relus else None,
    )


def firmware_precision(
    q: Any, model: Any = None, external: bool = False, user_default: FixedType | None = None
) -> Precision:
    """The types a point converts with: QAT from the quantizers, PTQ/float from ``quantization``.

    An external QKeras model is QAT whatever the config says; a user's hls4ml YAML sets the
    default type (``user_default``).
    """
    fallback = user_default or parse_precision("ap_fixed<16,6>")
    if not external and q.mode == "qat":
        w = qat_widths(q)
        return Precision("qat", fallback, {}, w.B_H, w.A_H, w.integer_bits)
    if external and model is not None and is_qkeras(model):
        bits, integer, act = qkeras_bits(model)
        return Precision("qat", fallback, {}, bits, act, integer)
    if user_default is not None:
        return Precision("ptq", user_default, {}, user_default.width, user_default.width, user_default.integer)
    default, layers = ptq_layer_precisions(q)
    mode = "float" if q.mode == "float" else "ptq"
    calibrate = q.precision is None and q.bits is not None and q.ptq_integer_bits is None
    return Precision(mode, default, layers, default.width, default.width, default.integer, calibrate)
