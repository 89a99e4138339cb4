"""What a point runs on: its data, and its model — trained (or cached), or the user's own."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger import registry
from deepsets_trigger.config import Config
from deepsets_trigger.convert.hls_config import default_precision_of, read_user_hls_config, settings_from_user
from deepsets_trigger.convert.ranges import calibrate_precision
from deepsets_trigger.data import Dataset, evaluation_only, load_data
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import (
    read_array,
    read_expected,
    read_inputs,
    write_json,
)
from deepsets_trigger.model_files import load_keras_model, save_model
from deepsets_trigger.quantize import Precision, firmware_precision
from deepsets_trigger.train import set_seeds, train_model


@dataclass(frozen=True)
class External:
    """An existing model to convert instead of training one (``run --model``)."""

    model: str
    weights: str | None = None
    hls_config: str | None = None
    inputs: str | None = None
    expected: str | None = None
    trusted: tuple[str, ...] = ()  # --trust-custom-layers: modules whose layer classes may be loaded


@dataclass(frozen=True)
class UserHLS:
    """A user's hls4ml YAML: its ``HLSConfig``, the ``hls`` settings it implies, and notes."""

    config: dict[str, Any]
    settings: dict[str, Any]
    notes: list[str]


class Timer:
    """Accumulates wall time per stage: ``with timer("compile_s"): ...``."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {"train_s": 0.0, "convert_s": 0.0, "compile_s": 0.0, "predict_s": 0.0}

    @contextlib.contextmanager
    def __call__(self, key: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - start


def read_external_arrays(external: External | None) -> dict[str, np.ndarray]:
    """``--inputs`` and ``--expected`` as raw arrays (finite, non-empty), read before anything heavy."""
    if external is None:
        return {}
    arrays = {}
    if external.inputs is not None:
        arrays["inputs"] = read_array(external.inputs, "--inputs")
    if external.expected is not None:
        arrays["expected"] = read_array(external.expected, "--expected")
    return arrays


def model_and_data(
    cfg: Config,
    external: External | None,
    timer: Timer,
    progress: bool,
    model_cache: str | Path | None,
    arrays: dict[str, np.ndarray],
) -> tuple[Any, Dataset, dict[str, Any]]:
    if external is not None:
        model = load_keras_model(external.model, external.weights, external.trusted)
        return model, _external_data(cfg, model, external, arrays), {}
    cached = Path(model_cache) / cfg.train_hash() if model_cache is not None else None
    if cached is not None and _LAST.get("key") == cached:  # a study group's next point, in the same worker
        return _LAST["model"], _LAST["data"], _LAST["history"]
    data = load_data(cfg)
    if len(data.x_train[0]) == 0:
        raise ToolkitError("data.test_fraction is 1.0, which leaves nothing to train on; use it only with --model.")
    if cached is not None and (cached / "model.h5").is_file():
        history = json.loads((cached / "history.json").read_text())
        model, history = load_keras_model(cached / "model.h5"), {**history, "from_cache": cfg.train_hash()}
    else:
        with timer("train_s"):
            model, history = _train(cfg, data, progress)
        if cached is not None:
            _store_in_cache(cached, model, history)
    if cached is not None:
        _LAST.clear()
        _LAST.update(key=cached, model=model, data=data, history={**history, "from_cache": cfg.train_hash()})
    return model, data, history


# the model and data of the last cached point of this process: a group's points share them (the
# conversion copies the model, nothing modifies the arrays)
_LAST: dict[str, Any] = {}


def _train(cfg: Config, data: Dataset, progress: bool) -> tuple[Any, dict[str, Any]]:
    family = registry.family(cfg.model.kind)
    set_seeds(cfg.train.seed)  # before building: the initial weights are drawn here
    model = family.build(cfg, data.input_shapes, data.n_outputs)
    if family.check is not None:  # a rule the conversion would break fails before training, not after
        family.check(model, cfg.hls, None)
    weights = getattr(cfg.model, "loss_weights", None) if len(data.heads) > 1 else None
    return train_model(model, data, cfg.train, cfg.pruning, progress=progress, loss_weights=weights)


def _store_in_cache(cached: Path, model: Any, history: dict[str, Any]) -> None:
    """Write model + history under a temporary name, then rename: readers see all or nothing."""
    import shutil

    tmp = cached.with_name(f".{cached.name}.tmp-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    save_model(model, tmp / "model.h5")
    write_json(tmp / "history.json", history)
    try:
        os.replace(tmp, cached)
    except OSError:  # another process cached the same model first
        shutil.rmtree(tmp, ignore_errors=True)


def _external_data(cfg: Config, model: Any, external: External, arrays: dict[str, np.ndarray]) -> Dataset:
    """The samples an existing model is evaluated on: ``--inputs``, or the config's data."""
    shapes = [tuple(int(d) for d in t.shape[1:]) for t in model.inputs]
    n_outputs = int(np.prod(model.outputs[-1].shape[1:]))
    task = "classification" if n_outputs > 1 else "regression"
    if external.inputs is not None:
        x = read_inputs(external.inputs, shapes, arrays["inputs"])
        if "expected" in arrays:  # checked now: before the conversion, not after it
            read_expected(external.expected, len(x[0]), n_outputs, arrays["expected"])
        return evaluation_only(x, None, task)
    data = load_data(cfg)
    if data.input_shapes[0] != shapes[0]:
        raise ToolkitError(
            f"the data have samples of shape {data.input_shapes[0]} but the model expects {shapes[0]}; "
            "set data.n_constituents / data.features to match the model."
        )
    return data


# --- precision --------------------------------------------------------------------------


def read_user_hls(external: External | None) -> UserHLS | None:
    """The ``--hls-config`` of ``external`` (validated), or ``None``."""
    if external is None or external.hls_config is None:
        return None

    hls, settings, notes = read_user_hls_config(external.hls_config)
    return UserHLS(hls, settings_from_user(settings), notes)


def point_precision(
    cfg: Config, model: Any, external: External | None, hls_user: UserHLS | None, data: Dataset
) -> Precision:
    """The point's firmware types; PTQ at ``bits: W`` takes each layer's integer bits from ``data``'s calibration."""
    user_default = default_precision_of(hls_user.config) if hls_user else None
    precision = firmware_precision(cfg.quantization, model, external is not None, user_default)
    return calibrate_precision(precision, model, data.calibration)


def check_synthesis_tool(cfg: Config) -> None:
    """``hls.synth`` runs hls4ml's ``build()``: refuse before training when the tool is missing."""
    import shutil

    tool = "vitis_hls" if cfg.hls.backend == "Vitis" else "vivado_hls"
    if cfg.hls.synth and shutil.which(tool) is None:
        raise ToolkitError(
            f"hls.synth: true runs C synthesis with {tool}, which is not on PATH; source the Xilinx "
            "settings script first, or set hls.synth: false (the emulation needs only g++)."
        )
