"""hls4ml's C++ emulation: compile the project with g++, run the library in a clean process.

The compiled library runs in a fresh Python process that loads nothing but NumPy and the
library: hls4ml's C++ ``assert``s (e.g. an invalid reuse factor) abort the process that runs
them, and a process that already holds TensorFlow and earlier libraries made some emulations
segfault (2 of 50 study points, one trap test) that run in a clean one.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.io import captured_output

__all__ = ["compile_model", "enable_trace", "predict", "trace"]


def compile_model(conversion: Any) -> None:
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


def predict(conversion: Any, x: Any) -> list[np.ndarray]:
    """Firmware emulation outputs, one (N, k) array per model output.

    The compiled library runs in a fresh Python process that loads nothing but NumPy and
    the library: hls4ml's C++ ``assert``s (e.g. an invalid reuse factor) abort the process
    that runs them, and a process that already holds TensorFlow and earlier libraries made
    some emulations segfault (2 of 50 study points, one trap test) that run in a clean one.
    """
    return _emulate(conversion, x, trace=False)[0]


def enable_trace(conversion: Any) -> None:
    """Make every layer save its output in the C++ emulation (before :func:`compile_model`)."""
    for layer in conversion.hls_model.get_layers():
        layer.set_attr("trace", True)
    conversion.hls_model.config.trace_output = True


def trace(conversion: Any, x: Any) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Outputs and per-layer firmware values ``{hls layer: (N, size)}`` of a traced, compiled model."""
    if not conversion.hls_model.config.trace_output:
        raise RuntimeError("trace needs enable_trace() before compile_model()")
    return _emulate(conversion, x, trace=True)


def _emulate(conversion: Any, x: Any, trace: bool) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
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
