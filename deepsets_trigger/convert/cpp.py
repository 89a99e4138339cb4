"""hls4ml's C++ emulation: compile the project with g++, run the library in a clean process.

The compiled library runs in a fresh Python process that loads nothing but NumPy and the
library: hls4ml's C++ ``assert``s (e.g. an invalid reuse factor) abort the process that runs
them, and a process that already holds TensorFlow and earlier libraries made some emulations
segfault (2 of 50 study points, one trap test) that run in a clean one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.io import captured_output

__all__ = ["Build", "compile_model", "enable_trace", "predict", "start_build", "trace"]


def compile_model(conversion: Any, quick: bool = False) -> None:
    """Write the project and build the C++ emulation library (g++); see :func:`start_build`."""
    start_build(conversion, quick).wait()


class Build:
    """A C++ build: hls4ml's own (finished when started), or a quick one running in the background."""

    def __init__(self, conversion: Any, jobs: list[Any] | None = None) -> None:
        self.conversion, self.jobs = conversion, jobs or []

    def wait(self) -> None:
        """Wait for the compile steps, link, and record the library (``conversion.library``)."""
        if not self.jobs:
            return
        jobs, self.jobs = self.jobs, []
        hls_model = self.conversion.hls_model
        root = Path(hls_model.config.get_output_dir()).absolute()
        objects = [job.args[-1] for job in jobs]
        with open(self.conversion.log_path or os.devnull, "a") as log:
            if any(job.wait() for job in jobs):
                raise RuntimeError(_failed_build(self.conversion))
            project, stamp = hls_model.config.get_project_name(), hls_model.config.get_config_value("Stamp")
            library = root / "firmware" / f"{project}-{stamp}.so"
            link = ["g++", *_flags(root), "-shared", *objects, "-o", str(library)]
            if subprocess.run(link, cwd=root, stdout=log, stderr=log).returncode:
                raise RuntimeError(_failed_build(self.conversion))
        for obj in objects:
            (root / obj).unlink(missing_ok=True)
        self.conversion.library = str(library)


def start_build(conversion: Any, quick: bool = False) -> Build:
    """Write the project and build its C++ emulation library.

    The default is hls4ml's ``build_lib.sh`` (``-O3``, done when this returns). ``quick`` (a
    study's verification builds) compiles the two translation units with ``-O1`` in parallel, in
    the background — about two thirds of the wall time, and other work can run meanwhile; the
    arithmetic is the same (``tests/test_study_twin.py`` compares the outputs of both builds).
    """
    hls_model = conversion.hls_model
    try:
        with captured_output(conversion.log_path):
            if not quick:
                hls_model.compile()
                conversion.library = hls_model._top_function_lib._name
                return Build(conversion)
            hls_model.write()
    except Exception as exc:  # hls4ml raises bare Exceptions for g++ failures
        raise RuntimeError(_failed_build(conversion, exc)) from exc
    project = hls_model.config.get_project_name()
    root = Path(hls_model.config.get_output_dir()).absolute()
    with open(conversion.log_path or os.devnull, "a") as log:
        jobs = [
            subprocess.Popen(["g++", *_flags(root), "-c", src, "-o", obj], cwd=root, stdout=log, stderr=log)
            for src, obj in (
                (f"firmware/{project}.cpp", f"{project}.o"),
                (f"{project}_bridge.cpp", f"{project}_bridge.o"),
            )
        ]
    return Build(conversion, jobs)


def _flags(root: Path) -> list[str]:
    return ["-O1", "-fPIC", *_std_flags(), "-Ifirmware/ap_types/", f'-DWEIGHTS_DIR="{root}/firmware/weights"']


def _failed_build(conversion: Any, exc: Exception | None = None) -> str:
    log = conversion.log_path.name if conversion.log_path else "hls4ml.log"
    return f"hls4ml compile failed{f' ({exc})' if exc else ''}; the g++ output is in {log} in the run directory"


def _std_flags() -> list[str]:
    """The C++ standard and flags ``build_lib.sh`` picks: c++23 when g++ has it, -fno-gnu-unique."""

    def accepted(flag: str) -> bool:
        probe = ["g++", "-Werror", "-fsyntax-only", flag, "-xc++", "-", "-o", os.devnull]
        return subprocess.run(probe, input=b"", capture_output=True).returncode == 0

    if not _FLAGS:
        _FLAGS.extend(["-std=c++23" if accepted("-std=c++23") else "-std=c++11"])
        _FLAGS.extend(["-fno-gnu-unique"] if accepted("-fno-gnu-unique") else [])
    return _FLAGS


_FLAGS: list[str] = []


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

    inputs = [np.ascontiguousarray(np.asarray(xi, dtype=np.float32)) for xi in (x if isinstance(x, list) else [x])]
    hls_model = conversion.hls_model
    library = getattr(conversion, "library", None)
    if library is None:
        raise RuntimeError("predict needs a compiled model: call compile_model first")
    traced = {
        layer.name: int(np.prod(layer.get_output_variable().shape))
        for layer in hls_model.get_layers()
        if trace and layer.get_attr("function_cpp", None) and layer.get_attr("trace", False)
    }
    spec = {
        "lib": library,
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
