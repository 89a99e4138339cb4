"""DeepSets (φ → permutation-invariant pooling → ρ) as Keras functional builders.

φ is a per-constituent Dense stack applied to (C, F) sets, pooled by ``mean`` or ``max``
over constituents, then ρ and a classification (softmax over n classes) or regression
head. Float and QKeras (QAT) variants share the layer names, so per-layer configs,
traces and reports line up between them:
``input_quant`` (QAT) → ``phi_0`` → ``phi_0_relu`` → … → ``pool`` → ``rho_0`` → ``rho_0_relu``
→ ``logits`` (or ``target``) → ``softmax``. Defaults follow the published jet DeepSets
(φ 32-32-32, ρ 32, mean pooling, 8 constituents of pT/η_rel/φ_rel).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from deepsets_trigger.config import Config, ModelConfig
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.quantize import input_quantizer, qat_widths, relu_quantizer, weight_quantizer
from deepsets_trigger.registry import ModelFamily


@dataclass(frozen=True)
class DeepSetsConfig(ModelConfig):
    """φ widths (per constituent), the permutation-invariant pooling, ρ widths, and the head."""

    phi: list[int] = field(default_factory=lambda: [32, 32, 32])
    rho: list[int] = field(default_factory=lambda: [32])
    phi_width: int | None = None  # sets every φ layer's width (a grid axis); None keeps ``phi``
    aggregation: Literal["mean", "max"] = "mean"
    activation: Literal["relu"] = "relu"

    def validated(self, cfg: Config) -> DeepSetsConfig:
        super().validated(cfg)
        if not self.phi:
            raise ToolkitError("model.phi: a DeepSets needs at least one φ layer, e.g. phi: [32, 32, 32].")
        for name, widths in (("model.phi", self.phi), ("model.rho", self.rho)):
            if any(w <= 0 for w in widths):
                raise ToolkitError(f"{name}: layer widths must be positive, got {widths}.")
        if self.phi_width is not None:
            return dataclasses.replace(self, phi=[self.phi_width] * len(self.phi))
        return self


def describe(cfg: Config) -> dict[str, Any]:
    """The DeepSets' fields of the result record."""
    m = cfg.model
    return {"phi_widths": list(m.phi), "rho_widths": list(m.rho), "aggregation": m.aggregation, "width": m.phi[0]}


def build_deepsets(config: Any, input_shapes: list[tuple[int, ...]], n_outputs: int) -> Any:
    """Build the DeepSets of ``config.model`` (float, or QKeras when ``quantization.mode`` is qat)."""
    from tensorflow import keras

    input_shape = input_shapes[0]
    m, q = config.model, config.quantization
    qat = q.mode == "qat"
    widths = qat_widths(q) if qat else None

    def dense(units: int, name: str, region: str) -> Any:
        if not qat:
            return keras.layers.Dense(units, name=name)
        from qkeras import QDense

        bits = getattr(widths, f"B_{region}")
        wq = weight_quantizer(bits, widths.integer_bits)
        return QDense(units, kernel_quantizer=wq, bias_quantizer=weight_quantizer(bits, widths.integer_bits), name=name)

    def relu(name: str, region: str) -> Any:
        if not qat:
            return keras.layers.Activation("relu", name=name)
        from qkeras import QActivation

        return QActivation(relu_quantizer(getattr(widths, f"A_{region}"), widths.activation_integer_bits), name=name)

    inputs = keras.Input(shape=input_shape, name="constituents")
    h = inputs
    if qat:
        from qkeras import QActivation

        h = QActivation(input_quantizer(widths.input_type), name="input_quant")(h)
    for i, width in enumerate(m.phi):
        region = "I" if i == 0 else "H"
        h = relu(f"phi_{i}_relu", region)(dense(width, f"phi_{i}", region)(h))
    pool = keras.layers.GlobalAveragePooling1D if m.aggregation == "mean" else keras.layers.GlobalMaxPooling1D
    h = pool(name="pool")(h)
    for i, width in enumerate(m.rho):
        h = relu(f"rho_{i}_relu", "H")(dense(width, f"rho_{i}", "H")(h))
    classification = m.head == "classification"
    out = dense(n_outputs if classification else 1, "logits" if classification else "target", "O")(h)
    if qat and widths.A_O is not None:
        from qkeras import QActivation, quantized_bits

        out = QActivation(quantized_bits(widths.A_O, widths.activation_integer_bits + 2, alpha=1), name="output_quant")(
            out
        )
    if classification:
        out = keras.layers.Activation("softmax", name="softmax")(out)
    return keras.Model(inputs, out, name="deepsets")


FAMILY = ModelFamily("deepsets", DeepSetsConfig, build_deepsets, describe=describe)
