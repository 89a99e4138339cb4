"""A quantized Keras network → da4ml combinational logic → Verilog, verified bit-exact.

The open-source synthesis tier rebuilds the network through da4ml's numpy-style tracing API
(distributed arithmetic: every constant multiplication becomes shift-and-add logic, no DSPs) from
the QKeras weights and quantizers, not from hls4ml's C++. Supported, in a single chain:

- an input quantizer (``QActivation(quantized_bits)`` right after ``Input``): the RTL input type;
- ``QDense`` with ``quantized_bits`` kernel and bias, on 2-D input or per constituent on 3-D
  input (DeepSets φ; one multiplier block per constituent, as hls4ml's io_parallel);
- ``QActivation(quantized_relu | quantized_bits)``, plain ReLU, ``linear``;
- ``GlobalAveragePooling1D`` over a power-of-two set size (a shift: exact) and ``GlobalMaxPooling1D``;
- a final softmax is dropped: the RTL outputs the logits (what a trigger compares to a threshold).

QKeras rounds half to even (``tf.round``) and saturates, while da4ml offers only truncation and
round-half-up, so :func:`round_half_even` builds the rounding from them: subtract one input LSB
before rounding half up exactly when the kept part is even (then a tie goes down, to even).

Nothing is reported unverified: :func:`verify` compares the traced logic (da4ml's own emulator
of the operations the Verilog is generated from) with the Keras model on random inputs over the
whole input range and must find zero differing outputs. (Verilator 5.006, Debian's, cannot build
da4ml's simulation binder, so the generated Verilog itself is not simulated here.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.errors import ToolkitError

__all__ = ["Traced", "round_half_even", "trace_keras", "verify", "write_verilog"]


@dataclass
class Traced:
    """Traced logic plus what the verification needs: the input quantizer and the output layer."""

    comb: Any  # da4ml CombLogic
    input_shape: tuple[int, ...]
    output_layer: str
    input_kif: tuple[int, int, int]
    notes: list[str] = field(default_factory=list)


def round_half_even(v: Any, k: int, i: int, f: int, overflow: str) -> Any:
    """Quantize a da4ml ``FixedVariable`` to ``(k, i, f)`` rounding half to even (QKeras' ``tf.round``)."""
    _, _, f_in = v.kif
    if f >= f_in:
        return v.quantize(k, i, f, overflow, "TRN")
    lsb = 2.0**-f_in
    parity = v.quantize(0, -f + 1, f, "WRAP", "TRN")  # the bit of weight 2^-f: 0 or 2^-f
    return (v - lsb + parity * (lsb * 2.0**f)).quantize(k, i, f, overflow, "RND")


def _elementwise(fn: Any, arr: Any) -> Any:
    from da4ml.trace import FixedVariableArray

    return FixedVariableArray(np.vectorize(fn, otypes=[object])(arr._vars))


def _quantizer_kif(quantizer: Any, where: str) -> tuple[str, int, int, int]:
    """``(kind, k, i, f)`` of a QKeras quantizer this tier can express exactly."""
    name = type(quantizer).__name__
    alpha = getattr(quantizer, "alpha", 1)
    if name == "quantized_bits" and alpha in (1, 1.0, None) and not getattr(quantizer, "symmetric", False):
        bits, integer = int(quantizer.bits), int(quantizer.integer)
        keep_negative = int(bool(quantizer.keep_negative))
        return "bits", keep_negative, integer, bits - keep_negative - integer
    if name == "quantized_relu" and not quantizer.use_sigmoid and not quantizer.negative_slope:
        if quantizer.relu_upper_bound is not None:
            raise ToolkitError(f"{where}: quantized_relu with relu_upper_bound is not supported by the yosys tier.")
        bits, integer = int(quantizer.bits), int(quantizer.integer)
        return "relu", 0, integer, bits - integer
    raise ToolkitError(
        f"{where}: quantizer {quantizer!s} is not supported by the yosys tier "
        "(quantized_bits with alpha=1, or quantized_relu); use --source analytic."
    )


def _apply_quantizer(arr: Any, quantizer: Any, where: str) -> Any:
    kind, k, i, f = _quantizer_kif(quantizer, where)
    if kind == "relu":
        return _elementwise(lambda v: round_half_even(v.relu(), 0, i, f, "SAT"), arr)
    return _elementwise(lambda v: round_half_even(v, k, i, f, "SAT"), arr)


def _quantized_weights(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    kernel, bias = layer.get_weights() if layer.use_bias else (layer.get_weights()[0], None)
    quantizers = layer.get_quantizers() if hasattr(layer, "get_quantizers") else []
    kq = quantizers[0] if quantizers else None
    bq = quantizers[1] if len(quantizers) > 1 else None
    if kq is None or (bias is not None and bq is None):
        raise ToolkitError(
            f"layer {layer.name!r} has float weights: the yosys tier needs QDense with quantized_bits "
            "kernel and bias quantizers (a QAT model); use --source analytic for float/PTQ models."
        )
    for q, what in ((kq, "kernel"), (bq, "bias")):
        if q is not None:
            _quantizer_kif(q, f"layer {layer.name!r} {what}")
    kernel = np.asarray(kq(kernel), dtype=np.float64)
    bias = np.zeros(kernel.shape[1]) if bias is None else np.asarray(bq(bias), dtype=np.float64)
    return kernel, bias


def _dense(arr: Any, kernel: np.ndarray, bias: np.ndarray) -> Any:
    from da4ml.trace import FixedVariableArray

    if arr.ndim == 1:
        return arr @ kernel + bias
    rows = [(arr[c] @ kernel + bias)._vars for c in range(arr.shape[0])]
    return FixedVariableArray(np.stack(rows))


def _chain(model: Any) -> list[Any]:
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    for prev, layer in zip([None, *layers[:-1]], layers, strict=True):
        inbound = [n.inbound_layers for n in layer._inbound_nodes]
        parents = inbound[0] if inbound else []
        parents = parents if isinstance(parents, list) else [parents]
        if len(model.inputs) != 1 or len(parents) != 1 or (prev is not None and parents[0] is not prev):
            raise ToolkitError(
                f"layer {layer.name!r}: the yosys tier handles single-input chains of layers only "
                "(DeepSets and MLPs); use --source analytic."
            )
    return layers


def trace_keras(model: Any) -> Traced:
    """Trace a QKeras MLP or DeepSets into da4ml ``CombLogic`` (see the module docstring for the layers)."""
    try:
        from da4ml.trace import FixedVariableArrayInput, comb_trace
    except ImportError:
        raise ToolkitError(
            "the yosys tier needs da4ml: pip install 'deepsets-trigger[synth]' (make installs it)."
        ) from None

    layers = _chain(model)
    first_is_quantizer = bool(layers) and type(layers[0]).__name__ == "QActivation"
    kind = _quantizer_kif(layers[0].activation, "input quantizer") if first_is_quantizer else None
    if kind is None or kind[0] != "bits":
        raise ToolkitError(
            "the yosys tier needs an input quantizer (QActivation(quantized_bits)) right after Input: "
            "it defines the RTL input type."
        )
    input_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    _, k, i, f = kind
    inp = FixedVariableArrayInput(input_shape, solver_options={"search_all_decompose_dc": False})
    arr = inp.quantize(k, i, f)
    notes: list[str] = []
    output_layer = layers[0].name
    for n, layer in enumerate(layers[1:], start=1):
        cls = type(layer).__name__
        act = getattr(getattr(layer, "activation", None), "__name__", None)
        if cls in ("QDense", "Dense"):
            if act not in (None, "linear"):
                raise ToolkitError(f"layer {layer.name!r}: Dense with a fused activation {act!r}; use QActivation.")
            arr = _dense(arr, *_quantized_weights(layer))
        elif cls == "QActivation":
            arr = _apply_quantizer(arr, layer.activation, f"layer {layer.name!r}")
        elif cls in ("Activation", "ReLU") and (cls == "ReLU" or act in ("relu", "linear")):
            if cls == "ReLU" or act == "relu":
                arr = _elementwise(lambda v: v.relu(), arr)
        elif cls == "Activation" and act == "softmax" and n == len(layers) - 1:
            notes.append(f"{layer.name!r} (softmax) not in the RTL: it outputs the logits of {output_layer!r}")
            break
        elif cls == "GlobalAveragePooling1D":
            size = arr.shape[0]
            if size & (size - 1):
                raise ToolkitError(
                    f"layer {layer.name!r}: mean over {size} elements is not a shift; the yosys tier needs a "
                    "power-of-two set size (or max pooling)."
                )
            arr = np.sum(arr, axis=0) * (1.0 / size)
        elif cls == "GlobalMaxPooling1D":
            arr = np.max(arr, axis=0)
        else:
            raise ToolkitError(
                f"layer {layer.name!r} ({cls}) is not supported by the yosys tier (dense/DeepSets QKeras "
                "networks only); use --source analytic."
            )
        output_layer = layer.name
    comb = comb_trace(inp, arr.ravel() if arr.ndim > 1 else arr)
    return Traced(comb, input_shape, output_layer, (k, i, f), notes)


def random_inputs(traced: Traced, n: int, seed: int = 0) -> np.ndarray:
    """Inputs spread over the whole input type, on its grid, plus the extremes (saturation)."""
    k, i, f = traced.input_kif
    rng = np.random.default_rng(seed)
    low, high = -(2.0**i) * k, 2.0**i - 2.0**-f
    x = rng.integers(round(low * 2**f), round(high * 2**f), size=(n, *traced.input_shape), endpoint=True) / 2.0**f
    return x.astype(np.float32)


def verify(traced: Traced, model: Any, n: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Compare the traced logic (da4ml's emulator) with the Keras model on ``n`` random inputs.

    Returns ``{n_samples, mismatches}``; any differing output raises: no numbers for wrong logic.
    """
    from tensorflow import keras

    x = random_inputs(traced, n, seed)
    sub = keras.Model(model.inputs, model.get_layer(traced.output_layer).output)
    expected = np.asarray(sub.predict(x, batch_size=2048, verbose=0), dtype=np.float64).reshape(n, -1)
    emulated = np.asarray(traced.comb.predict(x.reshape(n, -1)), dtype=np.float64).reshape(n, -1)
    differ = np.any(emulated != expected, axis=1)
    if differ.any():
        raise ToolkitError(
            f"the traced logic differs from the Keras model on {int(differ.sum())} of {n} inputs "
            f"(max |Δ| {float(np.max(np.abs(emulated - expected))):.3g}); refusing to report synthesis numbers."
        )
    return {"n_samples": n, "mismatches": 0, "checked_with": "da4ml emulator"}


def write_verilog(traced: Traced, path: Path, latency_cutoff: float) -> Any:
    """Write the Verilog project (``src/*.v``) pipelined at ``latency_cutoff``; returns the da4ml model."""
    from da4ml.codegen.rtl import VerilogModel

    model = VerilogModel(traced.comb, "net", path, latency_cutoff=latency_cutoff, print_latency=False)
    model.write()
    return model


def pipeline_stages(rtl_model: Any) -> int:
    """Register stages of a pipelined da4ml model (its latency in clock cycles)."""
    pipe = rtl_model._pipe
    return 0 if pipe is None else len(pipe.solutions)
