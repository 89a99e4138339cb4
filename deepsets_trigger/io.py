"""Files in and out: staged output directories, atomic writes, model and input files."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.errors import ToolkitError


def write_text_atomic(path: Path, text: str) -> None:
    """Write to a temporary name, then rename: never a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=False, default=_json_default) + "\n")


def plain(value: Any) -> Any:
    """Dicts, lists and scalars only (e.g. an hls4ml config for YAML); anything else as its text."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def check_output_dir(out: Path, marker: str = "result.json") -> None:
    """Refuse an ``--out`` that would destroy something that is not a previous output (holding ``marker``)."""
    if out.exists() and not out.is_dir():
        raise ToolkitError(f"--out {str(out)!r} exists and is a file; give a directory path.")
    if out.is_dir() and any(out.iterdir()) and not (out / marker).exists():
        raise ToolkitError(
            f"--out {str(out)!r} exists, is not empty and holds no {marker}; choose a new directory "
            "(a previous output directory is replaced)."
        )
    parent = out.resolve().parent
    if not parent.exists():
        with contextlib.suppress(OSError):
            parent.mkdir(parents=True)
    if not os.access(parent, os.W_OK):
        raise ToolkitError(f"--out {str(out)!r}: cannot write to {str(parent)!r}; choose a writable location.")


def check_file_target(path: Path) -> None:
    """An output file's directory must exist and be writable (the file is written atomically)."""
    parent = path.resolve().parent
    if path.is_dir():
        raise ToolkitError(f"--out {str(path)!r} is a directory; give a file name, e.g. {path / 'data.h5'}.")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ToolkitError(f"--out {str(path)!r}: {str(parent)!r} is not a writable directory.")


@contextlib.contextmanager
def staged_directory(out: Path, marker: str = "result.json", keep_partial: bool = True) -> Iterator[Path]:
    """Yield a staging directory that replaces ``out`` on success and vanishes on a user error.

    A :class:`ToolkitError` leaves nothing in ``out``. Any other exit (a failed compile, an
    interrupt) still publishes what was computed (the caller records the failure inside), unless
    ``keep_partial`` is False (generated data: all or nothing). ``marker`` names the file that
    identifies a previous output that may be replaced.
    """
    check_output_dir(out, marker)
    staging = out.resolve().parent / f".{out.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        yield staging
    except ToolkitError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except BaseException:
        if keep_partial and any(staging.iterdir()):
            _publish(staging, out)
        else:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    _publish(staging, out)


def _publish(staging: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.resolve().parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def captured_output(log_path: Path | str) -> Iterator[None]:
    """Send stdout/stderr (including g++ and C++ prints) to ``log_path`` at the fd level."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def load_keras_model(path: str | Path, weights: str | Path | None = None) -> Any:
    """Load ``.h5``/``.keras`` (with QKeras objects) or Keras JSON + HDF5 weights."""
    from deepsets_trigger.convert.keras_prep import custom_objects

    path = Path(path)
    if not path.is_file():
        raise ToolkitError(f"--model: file {str(path)!r} does not exist.")
    from tensorflow import keras

    objects = custom_objects()
    try:
        if path.suffix == ".json":
            if weights is None:
                raise ToolkitError(f"--model {str(path)!r} is Keras JSON: also pass --weights WEIGHTS.h5.")
            if not Path(weights).is_file():
                raise ToolkitError(f"--weights: file {str(weights)!r} does not exist.")
            model = keras.models.model_from_json(path.read_text(), custom_objects=objects)
            model.load_weights(str(weights))
        else:
            model = keras.models.load_model(str(path), custom_objects=objects, compile=False)
            if weights is not None:
                model.load_weights(str(weights))
    except ToolkitError:
        raise
    except Exception as exc:  # Keras raises OSError, ValueError, KeyError... for bad files
        raise ToolkitError(
            f"cannot load the model from {str(path)!r}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}. "
            "Pass a Keras .h5 (QKeras layers are known) or a Keras JSON with --weights."
        ) from None
    return model


def _read_array(path: str | Path, what: str) -> np.ndarray:
    from deepsets_trigger.data.arrays import read_npy

    path = Path(path)
    if path.suffix == ".npy":
        return read_npy(path, what)
    if not path.is_file():
        raise ToolkitError(f"{what}: file {str(path)!r} does not exist.")
    try:
        return np.loadtxt(path, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise ToolkitError(f"{what}: {str(path)!r} is not whitespace-separated numbers ({exc}).") from None


def read_inputs(path: str | Path, input_shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """One sample per row, flattened; extra inputs (e.g. GarNet's hit count) follow on the row."""
    raw = _read_array(path, "--inputs")
    sizes = [int(np.prod(s)) for s in input_shapes]
    if len(input_shapes) == 1 and raw.ndim == len(input_shapes[0]) + 1 and tuple(raw.shape[1:]) == input_shapes[0]:
        return [raw.astype(np.float32)]
    flat = raw.reshape(len(raw), -1)
    if flat.shape[1] != sum(sizes):
        shapes = " + ".join(f"{'×'.join(map(str, s))}" for s in input_shapes)
        raise ToolkitError(
            f"--inputs: each sample has {flat.shape[1]} values but the model expects {sum(sizes)} ({shapes}); "
            "write one sample per row, flattened, with any extra inputs following on the row."
        )
    if not np.isfinite(flat).all():
        raise ToolkitError("--inputs contains NaN or infinite values; clean the file.")
    out, start = [], 0
    for shape, size in zip(input_shapes, sizes, strict=True):
        out.append(flat[:, start : start + size].reshape((len(flat), *shape)).astype(np.float32))
        start += size
    return out


def read_expected(path: str | Path, n_samples: int) -> np.ndarray:
    """A peer's expected outputs, one sample per row."""
    expected = _read_array(path, "--expected")
    expected = expected.reshape(len(expected), -1)
    if len(expected) != n_samples:
        raise ToolkitError(
            f"--expected has {len(expected)} rows but --inputs has {n_samples} samples; they must match."
        )
    return expected
