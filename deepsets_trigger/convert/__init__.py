"""Keras/QKeras model → hls4ml model that computes what Keras computes.

``convert`` runs: Keras-side fixes (:mod:`.keras_prep`) → starting config (:mod:`.hls_config`)
→ a first conversion to read the inferred types → config fixes (:mod:`.fixes`) → the final
conversion. ``compile_model`` and ``predict`` wrap hls4ml's C++ emulation with their
output captured in a log file, so a g++ error is reported, not scrolled past.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.convert.fixes import FixContext, apply_fixes, read_graph
from deepsets_trigger.convert.hls_config import check_layer_names, model_config, user_result_layers
from deepsets_trigger.convert.keras_prep import input_quantizer_layer, prequantize_weights, rewrite_graph
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import captured_output
from deepsets_trigger.precision import FixedType, from_hls4ml
from gnn_keras.conversion import check_garnet, prepare_garnet

__all__ = [
    "Conversion",
    "compile_model",
    "convert",
    "enable_trace",
    "input_saturated_fraction",
    "layer_reuse_factors",
    "measured_sparsity",
    "predict",
    "reconvert",
    "softmax_producers",
    "trace",
]


@dataclass
class Conversion:
    """A converted model and everything needed to compare it with Keras."""

    hls_model: Any
    keras_model: Any  # the model hls4ml converted (weights pre-quantized, logits exposed)
    outputs: list[str]  # Keras layer names of the outputs, in order
    hls_config: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    log_path: Path | None = None


def _hls4ml_convert(model: Any, config: dict[str, Any], hls: Any, output_dir: Path, bit_exact: bool) -> Any:
    import hls4ml

    return hls4ml.converters.convert_from_keras_model(
        model,
        hls_config=config,
        output_dir=str(output_dir),
        project_name=hls.project_name,
        backend=hls.backend,
        io_type=hls.io_type,
        part=hls.part,
        clock_period=hls.clock_period,
        bit_exact=True if bit_exact else None,
    )


def softmax_producers(model: Any) -> list[str]:
    """Names of the layers whose outputs feed a softmax activation (the logits)."""
    names = []
    for layer in model.layers:
        activation = getattr(getattr(layer, "activation", None), "__name__", "")
        if layer.__class__.__name__ == "Activation" and activation == "softmax":
            inbound = layer._inbound_nodes[0].inbound_layers
            names.append(inbound.name if not isinstance(inbound, list) else inbound[0].name)
    return names


def _observed_ranges(model: Any, names: list[str], calib_x: Any) -> dict[str, float]:
    if not names or calib_x is None:
        return {}
    from tensorflow import keras

    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    values = probe.predict(calib_x, verbose=0, batch_size=1024)
    values = values if isinstance(values, list) else [values]
    return {n: float(np.max(np.abs(v))) for n, v in zip(names, values, strict=True)}


def convert(
    model: Any,
    hls: Any,
    output_dir: str | Path,
    *,
    mode: str,
    default_precision: FixedType,
    layer_precisions: dict[str, dict[str, FixedType]] | None = None,
    input_precision: FixedType | None = None,
    calib_x: Any = None,
    user_hls_config: dict[str, Any] | None = None,
    log_path: str | Path | None = None,
) -> Conversion:
    """Convert ``model`` with the toolkit's fixes; nothing is written or compiled yet.

    ``calib_x`` (training inputs) sets the observed logit ranges; ``user_hls_config`` (an
    ``HLSConfig`` mapping) replaces the generated starting config.
    """
    output_dir = Path(output_dir)
    if hls.strategy == "distributed_arithmetic" and mode != "qat":
        from deepsets_trigger.config import DA_RULES

        raise ToolkitError(DA_RULES["mode"].format(value=mode))  # e.g. run --model with a float model
    if log_path is None:
        fd, log_path = tempfile.mkstemp(suffix=".log")
        os.close(fd)
    log = Path(log_path)
    prepared, outputs, notes = rewrite_graph(model, expose_logits=hls.expose_logits)
    prepared, garnet_types, garnet_notes = prepare_garnet(prepared)
    notes += garnet_notes + prequantize_weights(prepared)
    quant_layer = input_quantizer_layer(prepared)
    if hls.bit_exact and quant_layer is None:
        raise ToolkitError(
            "hls.bit_exact needs an input quantizer right after the Input (hls4ml trap 4): add "
            "QActivation(quantized_bits(W, I, alpha=1)) as the first layer, or set hls.bit_exact: false."
        )
    if user_hls_config is not None:
        import copy

        config = copy.deepcopy(user_hls_config)
        config.setdefault("Model", {}).setdefault("Precision", default_precision.hls())
        config["Model"].setdefault("ReuseFactor", hls.reuse_factor)
        config["Model"].setdefault("Strategy", hls.strategy)
        chosen = user_result_layers(config)
    else:
        config, chosen = model_config(prepared, hls, mode, default_precision, layer_precisions or {})
    check_garnet(prepared, hls, config)
    for name, t in garnet_types.items():
        config.setdefault("LayerName", {}).setdefault(name, {}).setdefault("Precision", {})["result"] = t.hls()
        chosen.add(name)
    with captured_output(log):
        first = _hls4ml_convert(prepared, config, hls, output_dir, hls.bit_exact)
    graph = read_graph(first)
    # bit-exact mode folds the input quantizer into the Input, which then already has its type
    absorbed = None if quant_layer is None else quant_layer.name not in graph
    ctx = FixContext(
        user_results=chosen,
        output_ranges=_observed_ranges(prepared, softmax_producers(prepared), calib_x),
        input_quantizer_type=graph[quant_layer.name].result if absorbed is False else None,
        input_precision=None
        if absorbed or (user_hls_config is not None and _user_sets_input(config, graph))
        else input_precision,
        softmax_table_size=None if user_hls_config is not None else hls.softmax_table_size,
        reuse_factor=int(config.get("Model", {}).get("ReuseFactor", hls.reuse_factor)),
        backend=hls.backend,
        user_config=user_hls_config is not None,
    )
    if user_hls_config is not None:
        check_layer_names(config, graph)
    notes += apply_fixes(config, graph, ctx)
    with captured_output(log):
        hls_model = _hls4ml_convert(prepared, config, hls, output_dir, hls.bit_exact)
    notes += round_weights_to_nearest(hls_model)
    return Conversion(hls_model, prepared, outputs, config, notes, log)


def reconvert(
    model: Any, hls_config: dict[str, Any], hls: Any, output_dir: str | Path, log_path: str | Path
) -> Conversion:
    """Convert again with a run's final config (``hls4ml_config.yml``): no fixes, the same firmware."""
    prepared, outputs, notes = rewrite_graph(model, expose_logits=hls.expose_logits)
    prepared, _, garnet_notes = prepare_garnet(prepared)
    notes += garnet_notes + prequantize_weights(prepared)
    with captured_output(log_path):
        hls_model = _hls4ml_convert(prepared, hls_config, hls, Path(output_dir), hls.bit_exact)
    notes += round_weights_to_nearest(hls_model)
    return Conversion(hls_model, prepared, outputs, hls_config, notes, Path(log_path))


def round_weights_to_nearest(hls_model: Any) -> list[str]:
    """Round float weights to the nearest value of their type (and saturate).

    hls4ml writes weights as float literals that C++ casts with the type's own mode,
    truncation by default: every weight is biased towards −∞ and the bias accumulates
    layer after layer (PTQ at ap_fixed<16,6> lost 1.3% argmax agreement that way). The
    types stay what the user asked for; only the choice of value within them changes.
    Values already on the grid (QKeras weights) are untouched.
    """
    changed = []
    for layer in hls_model.get_layers():
        for key in ("weight", "bias"):
            var = layer.weights.get(key) if hasattr(layer, "weights") else None
            t = from_hls4ml(var.type.precision) if var is not None else None
            if t is None:
                continue
            data = np.asarray(var.data, dtype=np.float64)
            rounded = np.clip(np.round(data * 2.0**t.fractional) / 2.0**t.fractional, t.min_value, t.max_value)
            if not np.array_equal(rounded, data):
                var.data = rounded.astype(np.asarray(var.data).dtype)
                var.nonzeros = int(np.count_nonzero(var.data))
                var.nzeros = var.data_length - var.nonzeros
                var.min, var.max = np.min(var.data), np.max(var.data)
                changed.append(layer.name)
    return (
        [f"rounded float weights of {', '.join(sorted(set(changed)))} to nearest (hls4ml truncates)"] if changed else []
    )


def _user_sets_input(config: dict[str, Any], graph: dict[str, Any]) -> bool:
    inputs = [name for name, layer in graph.items() if layer.class_name == "Input"]
    return any(name in user_result_layers(config) for name in inputs)


def compile_model(conversion: Conversion) -> None:
    """Write the project and build the C++ emulation library (g++)."""
    try:
        with captured_output(conversion.log_path):
            conversion.hls_model.compile()
    except Exception as exc:  # hls4ml raises bare Exceptions for g++ failures
        log = conversion.log_path.name if conversion.log_path else "hls4ml.log"
        raise RuntimeError(f"hls4ml compile failed ({exc}); the g++ output is in {log} in the run directory") from exc


_EMULATE = """
import ctypes, json, os, sys, pathlib
import numpy as np
tmp = pathlib.Path(sys.argv[1])
spec = json.loads((tmp / "spec.json").read_text())
os.chdir(spec["cwd"])
lib = ctypes.cdll.LoadLibrary(spec["lib"])
top = getattr(lib, spec["function"])
inputs = [np.load(tmp / f"in_{i}.npy") for i in range(spec["n_inputs"])]
n = len(inputs[0])
outputs = [np.zeros((n, size), np.float32) for size in spec["output_sizes"]]
top.argtypes = [np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")] * (len(inputs) + len(outputs))
top.restype = None
sizes = spec.get("trace", {})
if sizes:
    class TraceData(ctypes.Structure):
        _fields_ = [("name", ctypes.c_char_p), ("data", ctypes.c_void_p)]
    slots = (TraceData * len(sizes))()
    traces = {name: np.zeros((n, size), np.float32) for name, size in sizes.items()}
    lib.allocate_trace_storage.argtypes = [ctypes.c_size_t]
    lib.allocate_trace_storage(ctypes.sizeof(ctypes.c_float))
    lib.collect_trace_output.argtypes = [ctypes.POINTER(TraceData)]
for k in range(n):
    rows = [np.ascontiguousarray(a[k].ravel()) for a in inputs]
    outs = [np.zeros(size, np.float32) for size in spec["output_sizes"]]
    top(*rows, *outs)
    for out, row in zip(outputs, outs):
        out[k] = row
    if sizes:
        lib.collect_trace_output(slots)
        for slot in slots:
            name = slot.name.decode()
            data = ctypes.cast(slot.data, ctypes.POINTER(ctypes.c_float))
            traces[name][k] = np.ctypeslib.as_array(data, shape=(sizes[name],))
for i, out in enumerate(outputs):
    np.save(tmp / f"out_{i}.npy", out)
if sizes:
    np.savez(tmp / "trace.npz", **traces)
"""


def predict(conversion: Conversion, x: Any) -> list[np.ndarray]:
    """Firmware emulation outputs, one (N, k) array per model output.

    The compiled library runs in a fresh Python process that loads nothing but NumPy and
    the library: hls4ml's C++ ``assert``s (e.g. an invalid reuse factor) abort the process
    that runs them, and a process that already holds TensorFlow and earlier libraries made
    some emulations segfault (2 of 50 study points, one trap test) that run in a clean one.
    """
    return _emulate(conversion, x, trace=False)[0]


def enable_trace(conversion: Conversion) -> None:
    """Make every layer save its output in the C++ emulation (before :func:`compile_model`)."""
    for layer in conversion.hls_model.get_layers():
        layer.set_attr("trace", True)
    conversion.hls_model.config.trace_output = True


def trace(conversion: Conversion, x: Any) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Outputs and per-layer firmware values ``{hls layer: (N, size)}`` of a traced, compiled model."""
    if not conversion.hls_model.config.trace_output:
        raise RuntimeError("trace needs enable_trace() before compile_model()")
    return _emulate(conversion, x, trace=True)


def _emulate(conversion: Conversion, x: Any, trace: bool) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    import json
    import subprocess

    inputs = [np.ascontiguousarray(np.asarray(xi, dtype=np.float32)) for xi in (x if isinstance(x, list) else [x])]
    hls_model = conversion.hls_model
    lib = getattr(hls_model, "_top_function_lib", None)
    if lib is None:
        raise RuntimeError("predict needs a compiled model: call compile_model first")
    traced = {
        layer.name: int(np.prod(layer.get_output_variable().shape))
        for layer in hls_model.get_layers()
        if trace and layer.get_attr("function_cpp", None) and layer.get_attr("trace", False)
    }
    spec = {
        "lib": lib._name,
        "function": f"{hls_model.config.get_project_name()}_float",
        "cwd": str(Path(hls_model.config.get_output_dir()) / "firmware"),
        "n_inputs": len(inputs),
        "output_sizes": [int(np.prod(v.shape)) for v in hls_model.get_output_variables()],
        "trace": traced,
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        for i, array in enumerate(inputs):
            np.save(tmp_path / f"in_{i}.npy", array.reshape(len(array), -1))
        with open(conversion.log_path or os.devnull, "a") as log:
            proc = subprocess.run([sys.executable, "-c", _EMULATE, tmp], stdout=log, stderr=log)
        if proc.returncode != 0:
            raise RuntimeError(_crash_message(proc.returncode, conversion.log_path))
        n = len(inputs[0])
        outputs = [
            np.load(tmp_path / f"out_{i}.npy").astype(np.float64).reshape(n, -1)
            for i in range(len(spec["output_sizes"]))
        ]
        if not traced:
            return outputs, {}
        with np.load(tmp_path / "trace.npz") as data:
            return outputs, {name: data[name].astype(np.float64) for name in data.files}


def _crash_message(exitcode: int, log_path: Path | None) -> str:
    import signal

    how = f"signal {signal.Signals(-exitcode).name}" if exitcode < 0 else f"exit code {exitcode}"
    lines = log_path.read_text(errors="replace").splitlines() if log_path and log_path.exists() else []
    cause = next((line for line in reversed(lines) if "Assertion" in line or "Error" in line), "")
    where = f"; see {log_path.name} in the run directory" if log_path else ""
    return f"the firmware emulation crashed ({how}){': ' + cause.strip() if cause else ''}{where}"


def measured_sparsity(hls_model: Any) -> float:
    """Fraction of zero weights in the converted model's Dense/Conv kernels (what hls4ml sees)."""
    total = zeros = 0
    for layer in hls_model.get_layers():
        weight = layer.weights.get("weight") if hasattr(layer, "weights") else None
        if weight is None:
            continue
        data = np.asarray(weight.data)
        total += data.size
        zeros += int(np.sum(data == 0))
    return zeros / total if total else 0.0


def layer_reuse_factors(hls_model: Any) -> dict[str, int]:
    """The reuse factor each layer with weights really uses (hls4ml may change the requested one)."""
    return {
        layer.name: int(layer.get_attr("reuse_factor"))
        for layer in hls_model.get_layers()
        if getattr(layer, "weights", None) and layer.get_attr("reuse_factor") is not None
    }


def input_saturated_fraction(hls_model: Any, x: list[np.ndarray]) -> float:
    """Fraction of input values outside the firmware input types' ranges (they saturate or wrap)."""
    outside = total = 0
    for variable, values in zip(hls_model.get_input_variables(), x, strict=False):
        t = from_hls4ml(variable.type.precision)
        if t is None:
            continue
        values = np.asarray(values, dtype=np.float64)
        outside += int(np.count_nonzero((values < t.min_value) | (values > t.max_value)))
        total += values.size
    return outside / total if total else 0.0
