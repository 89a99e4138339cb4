"""GarNet / GarNetStack models as in the paper (arXiv 2008.03601), Keras functional builders.

Inputs: ``hits`` (V_max, F) and ``n_hits`` (1,) — hls4ml's ``input_format='xn'``. The graph
layer (simplified, ``collapse='mean'``, linear output: what hls4ml converts) feeds Dense 16 →
Dense 8 (ReLU) and the heads: ``classification`` (sigmoid, e vs π±) and/or ``regression``
(linear, E / 100 GeV). QAT: ``quantize_transforms=True`` with ``quantized_bits(total, int)``
transforms, the output quantized after the collapse by ``garnet_quant`` (as the firmware can:
see :mod:`gnn_keras.conversion`), and QDense heads of the same width.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deepsets_trigger.quantize import qat_widths

HEADS = ("classification", "regression")


@dataclass
class GarNetSpec:
    """Shape of a GarNet model; per-sublayer lists for ``garnet_stack``."""

    kind: str = "garnet"  # garnet | garnet_stack
    n_vertices: int = 128
    n_features: int = 4
    aggregators: list[int] = field(default_factory=lambda: [4])
    filters: list[int] = field(default_factory=lambda: [8])
    propagate: list[int] = field(default_factory=lambda: [8])
    dense: list[int] = field(default_factory=lambda: [16, 8])
    heads: tuple[str, ...] = HEADS
    quantize: bool = False
    total_bits: int = 8
    int_bits: int = 3
    collapse: str = "mean"


def build_garnet(spec: GarNetSpec) -> Any:
    """The Keras model of ``spec`` (outputs in ``spec.heads`` order)."""
    from tensorflow import keras

    from gnn_keras.layers import GarNet, GarNetStack

    unknown = [h for h in spec.heads if h not in HEADS]
    if unknown or not spec.heads:
        raise ValueError(f"heads must be a non-empty subset of {HEADS}, got {spec.heads}")
    hits = keras.Input((spec.n_vertices, spec.n_features), name="hits")
    n_hits = keras.Input((1,), name="n_hits", dtype="uint16")
    common = {
        "simplified": True,
        "collapse": spec.collapse,
        "input_format": "xn",
        "output_activation": None,
        "quantize_transforms": spec.quantize,
        "total_bits": spec.total_bits if spec.quantize else None,
        "int_bits": spec.int_bits if spec.quantize else None,
        "quantize_output": False,
        "name": "garnet",
    }
    if spec.kind == "garnet":
        graph = GarNet(spec.aggregators[0], spec.filters[0], spec.propagate[0], **common)
    elif spec.kind == "garnet_stack":
        graph = GarNetStack(list(spec.aggregators), list(spec.filters), list(spec.propagate), **common)
    else:
        raise ValueError(f"kind must be garnet or garnet_stack, got {spec.kind!r}")
    h = graph([hits, n_hits])
    if spec.quantize:
        from qkeras import QActivation, quantized_bits

        h = QActivation(quantized_bits(spec.total_bits, spec.int_bits, alpha=1), name="garnet_quant")(h)

    def dense(units: int, name: str, activation: str | None) -> Any:
        if not spec.quantize:
            return keras.layers.Dense(units, activation=activation, name=name)
        from qkeras import QDense, quantized_bits

        q = quantized_bits(spec.total_bits, 0, alpha=1)
        return QDense(units, kernel_quantizer=q, bias_quantizer=q, activation=activation, name=name)

    for i, units in enumerate(spec.dense):
        h = dense(units, f"dense_{i}", "relu")(h)
    outputs = {
        "classification": dense(1, "classification", "sigmoid")(h) if "classification" in spec.heads else None,
        "regression": dense(1, "regression", None)(h) if "regression" in spec.heads else None,
    }
    return keras.Model([hits, n_hits], [outputs[h] for h in spec.heads], name=spec.kind)


def build_from_config(config: Any, input_shape: tuple[int, ...], n_outputs: int) -> Any:
    """``model.kind: garnet | garnet_stack`` from the toolkit config (QAT when ``quantization.mode`` is qat)."""

    m, q = config.model, config.quantization
    qat = q.mode == "qat"
    widths = qat_widths(q) if qat else None
    heads = HEADS if m.head == "both" else (m.head,)
    spec = GarNetSpec(
        kind=m.kind,
        n_vertices=int(input_shape[0]),
        n_features=int(input_shape[1]),
        aggregators=list(m.aggregators),
        filters=list(m.filters),
        propagate=list(m.propagate),
        dense=list(m.dense),
        heads=heads,
        quantize=qat,
        total_bits=widths.B_H if widths else 8,
        int_bits=widths.activation_integer_bits if widths else 3,
    )
    return build_garnet(spec)
