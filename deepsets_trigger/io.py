"""Files in and out: staged output directories, atomic writes, model and input files."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import warnings
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
    """Strict JSON (no NaN/Infinity, which other parsers reject): non-finite numbers become null."""
    text = json.dumps(finite(payload), indent=2, sort_keys=False, default=_json_default, allow_nan=False)
    write_text_atomic(path, text + "\n")


def finite(value: Any) -> Any:
    """``value`` with every NaN/inf float (NumPy's too) replaced by ``None``."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        return None
    if isinstance(value, np.ndarray):
        return finite(value.tolist())
    return value


def non_finite_paths(value: Any, prefix: str = "") -> list[str]:
    """Key paths of the NaN/inf numbers in ``value`` (to say why a result is null)."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in non_finite_paths(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in non_finite_paths(v, f"{prefix}[{i}]")]
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        return [prefix]
    return []


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


MARKER = ".deepsets-trigger.json"  # in every directory the toolkit writes: the entries it owns


def _marker(out: Path) -> dict[str, Any] | None:
    try:
        payload = json.loads((out / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) and isinstance(payload.get("files"), list) else None


def mark_outputs(out: Path, kind: str, names: list[str] | None = None) -> None:
    """Record that the toolkit wrote ``names`` in ``out`` (default: every entry); kept entries stay listed."""
    previous = _marker(out)
    files = set(previous["files"]) if previous else set()
    files.update(names if names is not None else (p.name for p in out.iterdir() if p.name != MARKER))
    kind = previous.get("kind", kind) if previous else kind
    write_json(out / MARKER, {"written_by": "deepsets-trigger", "kind": kind, "files": sorted(files)})


def read_json(path: Path, what: str) -> Any:
    """A JSON file the toolkit wrote, with one clear error when it is truncated or edited badly."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ToolkitError(
            f"{what} {str(path)!r} is not readable JSON ({exc}); run the command that writes it again."
        ) from None


def foreign_entries(out: Path) -> list[str]:
    """Entries of the directory ``out`` that the toolkit did not write (all of them without a marker)."""
    marker = _marker(out)
    owned = set(marker["files"]) | {MARKER} if marker else set()
    return sorted(p.name for p in out.iterdir() if p.name not in owned)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(parent: Path, pattern: str = ".*.partial-*") -> list[Path]:
    """Remove staging directories in ``parent`` whose process is gone (a kill -9 or power cut left them)."""
    removed = []
    for path in parent.glob(pattern) if parent.is_dir() else ():
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def check_writable_parent(out: Path, flag: str = "--out") -> Path:
    """The existing, writable parent directory of ``out`` (created if missing)."""
    parent = out.absolute().parent
    ancestor = parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ToolkitError(f"{flag} {str(out)!r}: {str(ancestor)!r} is a file, not a directory; choose another path.")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ToolkitError(
            f"{flag} {str(out)!r}: cannot create {str(parent)!r} ({exc.strerror}); choose a writable location."
        ) from None
    if not os.access(parent, os.W_OK):
        raise ToolkitError(f"{flag} {str(out)!r}: cannot write to {str(parent)!r}; choose a writable location.")
    return parent


def check_output_dir(out: Path) -> None:
    """Refuse an ``--out`` that would destroy anything the toolkit did not write itself."""
    if out.exists() and not out.is_dir():
        raise ToolkitError(f"--out {str(out)!r} exists and is a file; give a directory path.")
    if out.is_dir():
        foreign = foreign_entries(out)
        if foreign:
            raise ToolkitError(
                f"--out {str(out)!r} holds files deepsets-trigger did not write (e.g. {foreign[0]!r}); choose a new "
                "directory (only a directory written by a previous run is replaced)."
            )
    check_writable_parent(out)


def check_file_target(path: Path, flag: str = "--out") -> None:
    """An output file's directory must exist and be writable (the file is written atomically)."""
    if path.is_dir():
        raise ToolkitError(f"{flag} {str(path)!r} is a directory; give a file name, e.g. {path / 'data.h5'}.")
    parent = path.absolute().parent
    if not parent.is_dir():
        what = "is a file, not a directory" if parent.exists() else "does not exist"
        raise ToolkitError(f"{flag} {str(path)!r}: {str(parent)!r} {what}; choose an existing directory.")
    if not os.access(parent, os.W_OK) or not _can_create(parent):
        raise ToolkitError(f"{flag} {str(path)!r}: {str(parent)!r} is not a writable directory.")


def check_replaceable_file(path: Path, flag: str = "--out") -> None:
    """Like :func:`check_file_target`, and an existing file must be a data file the toolkit wrote."""
    check_file_target(path, flag)
    if path.exists() and not _toolkit_hdf5(path):
        raise ToolkitError(
            f"{flag} {str(path)!r} exists and was not written by deepsets-trigger; choose a new file name "
            "(only the toolkit's own data files are replaced)."
        )


def _toolkit_hdf5(path: Path) -> bool:
    import h5py

    try:
        if not h5py.is_hdf5(path):
            return False
        with h5py.File(path, "r") as f:
            return "deepsets-trigger" in str(f.attrs.get("generator", ""))
    except OSError:
        return False


def _can_create(directory: Path) -> bool:
    """Really create and remove a file: ``os.access`` says yes to root on read-only filesystems like /proc."""
    probe = directory / f".deepsets-trigger-probe-{os.getpid()}"
    try:
        probe.touch()
        probe.unlink()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def staged_directory(out: Path, kind: str = "run", keep_partial: bool = True) -> Iterator[Path]:
    """Yield a staging directory that replaces ``out`` only when the work in it finishes.

    A :class:`ToolkitError` leaves nothing. An interrupt (Ctrl-C, SIGTERM) or a crash leaves an
    earlier run in ``out`` exactly as it was; with no earlier run, what was computed is published
    (the caller records the failure inside) unless ``keep_partial`` is False (generated data: all
    or nothing). ``out`` gets a marker listing the entries it owns.
    """
    check_output_dir(out)
    parent = out.absolute().parent
    remove_stale_partials(parent, f".{out.name}.partial-*")
    staging = parent / f".{out.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        raise ToolkitError(
            f"--out {str(out)!r}: cannot create it ({exc.strerror}); choose a writable location."
        ) from None
    try:
        yield staging
    except ToolkitError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except BaseException:
        if out.exists() or not keep_partial or not any(staging.iterdir()):
            shutil.rmtree(staging, ignore_errors=True)
        else:
            _publish(staging, out, kind)
        raise
    _publish(staging, out, kind)


def _publish(staging: Path, out: Path, kind: str) -> None:
    mark_outputs(staging, kind)
    old = None
    if out.exists():
        old = out.absolute().parent / f".{out.name}.old-{os.getpid()}"
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


def read_npy(path: str | Path, what: str) -> np.ndarray:
    """``np.load`` with a clear error for a missing, corrupt or pickled file."""
    path = Path(path)
    if path.is_dir():
        raise ToolkitError(f"{what}: {str(path)!r} is a directory; pass a .npy file.")
    if not path.is_file():
        raise ToolkitError(f"{what}: file {str(path)!r} does not exist.")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ToolkitError(f"{what}: {str(path)!r} is not a readable .npy array ({exc}).") from None
    if not isinstance(array, np.ndarray) or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        kind = getattr(array, "dtype", type(array).__name__)
        raise ToolkitError(f"{what}: {str(path)!r} holds {kind} values, not numbers; save a numeric array.")
    if array.size == 0:
        raise ToolkitError(f"{what}: {str(path)!r} is empty (shape {array.shape}); save the samples.")
    return array


def read_array(path: str | Path, what: str) -> np.ndarray:
    """A finite, non-empty numeric array from ``.npy`` or whitespace-separated text (one sample per row)."""

    path = Path(path)
    if path.suffix == ".npy":
        array = read_npy(path, what)
    else:
        if path.is_dir():
            raise ToolkitError(f"{what}: {str(path)!r} is a directory; pass a .npy or text file.")
        if not path.is_file():
            raise ToolkitError(f"{what}: file {str(path)!r} does not exist.")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # numpy warns about empty files; refused below
                array = np.loadtxt(path, ndmin=2, dtype=np.float64)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ToolkitError(f"{what}: {str(path)!r} is not whitespace-separated numbers ({exc}).") from None
    if array.size == 0:
        raise ToolkitError(f"{what}: {str(path)!r} holds no values; write one sample per row.")
    bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)
    if bad.any():
        raise ToolkitError(
            f"{what}: {str(path)!r} contains NaN or infinite values in {int(bad.sum())} sample(s) "
            f"(first at row {int(np.flatnonzero(bad)[0])}); clean or drop those samples."
        )
    return array


def read_inputs(
    path: str | Path, input_shapes: list[tuple[int, ...]], raw: np.ndarray | None = None
) -> list[np.ndarray]:
    """One sample per row, flattened; extra inputs (e.g. GarNet's hit count) follow on the row."""
    raw = read_array(path, "--inputs") if raw is None else raw
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
    out, start = [], 0
    for shape, size in zip(input_shapes, sizes, strict=True):
        out.append(flat[:, start : start + size].reshape((len(flat), *shape)).astype(np.float32))
        start += size
    return out


def read_expected(
    path: str | Path, n_samples: int, n_outputs: int | None = None, raw: np.ndarray | None = None
) -> np.ndarray:
    """A peer's expected outputs, one sample per row, ``n_outputs`` columns (the model's last output)."""
    expected = read_array(path, "--expected") if raw is None else raw
    expected = expected.reshape(len(expected), -1)
    if len(expected) != n_samples:
        raise ToolkitError(
            f"--expected has {len(expected)} rows but --inputs has {n_samples} samples; they must match."
        )
    if n_outputs is not None and expected.shape[1] != n_outputs:
        raise ToolkitError(
            f"--expected has {expected.shape[1]} column(s) but the model's output has {n_outputs}; write one row "
            f"of {n_outputs} value(s) per sample."
        )
    return expected
