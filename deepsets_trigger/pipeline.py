"""One grid point, top to bottom: data → model → train → convert → evaluate → record.

A point never knows it is part of a study. :func:`run_point` writes into ``out``:
``result.json`` (the contract), ``model.h5``, ``config.yaml`` (resolved), ``history.json``,
``resources_yosys.json`` + ``rtl/`` (with ``hls.resource_source: yosys``),
``hls4ml_config.yml`` (the final hls4ml config), ``hls4ml_prj/`` and ``hls4ml.log``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger.config import Config
from deepsets_trigger.data.arrays import as_list
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import (
    load_keras_model,
    non_finite_paths,
    plain,
    read_array,
    read_expected,
    read_inputs,
    staged_directory,
    write_json,
    write_text_atomic,
)
from deepsets_trigger.precision import FixedType, parse_precision
from deepsets_trigger.train import TrainingFailed

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SATURATION_NOTE_ABOVE = 0.01  # fraction of input values outside the firmware input type worth a note


@dataclass
class External:
    """An existing model to convert instead of training one (``run --model``)."""

    model: str
    weights: str | None = None
    hls_config: str | None = None
    inputs: str | None = None
    expected: str | None = None
    trusted: tuple[str, ...] = ()  # --trust-custom-layers: modules whose layer classes may be loaded


@dataclass
class EvalSet:
    """What the comparison runs on: inputs, optional labels, calibration inputs."""

    x: list[np.ndarray]
    y: np.ndarray | None
    task: str
    class_names: tuple[str, ...] = ()
    calib: list[np.ndarray] = field(default_factory=list)
    energy: np.ndarray | None = None  # GarNet: true energies (GeV) for the regression head's resolution


@dataclass
class Precision:
    """What the firmware types are, for the converter and the result record."""

    mode: str
    default: FixedType
    layers: dict[str, dict[str, FixedType]]
    weight_bits: int | None
    activation_bits: int | None
    integer_bits: int | None


class _Timer:
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


def run_point(
    cfg: Config,
    out: str | Path,
    external: External | None = None,
    progress: bool = False,
    model_cache: str | Path | None = None,
) -> dict[str, Any]:
    """Run one point and write its directory; return the ``result.json`` payload.

    Raises :class:`ToolkitError` for bad input (nothing written); a failure after that
    (e.g. g++) is recorded as ``status: failed`` with what was computed kept. With
    ``model_cache``, a model trained before for the same :meth:`Config.train_hash` is
    loaded instead of trained again (a study's float model serves all its PTQ precisions).
    """
    out = Path(out)
    hls_user = _read_user_hls(external)
    if hls_user is not None:
        cfg = dataclasses.replace(cfg, hls=dataclasses.replace(cfg.hls, **hls_user.settings))
    _check_synthesis_tool(cfg)
    arrays = _read_external_arrays(external)  # a bad --inputs/--expected fails before any model loads
    with staged_directory(out) as stage:
        timer = _Timer()
        try:
            model, evalset, history = _model_and_data(cfg, external, timer, progress, model_cache, arrays)
        except TrainingFailed as exc:
            return _training_failed(cfg, stage, timer, exc)
        precision = _precision(cfg, model, external, hls_user)
        result = _describe(cfg, external, precision, evalset, hls_user)
        result["timings"] = timer.timings
        _save_model(model, stage / "model.h5")
        write_json(stage / "history.json", history)
        _write_config(stage / "config.yaml", cfg)
        try:
            result.update(_firmware_gap(cfg, model, evalset, precision, hls_user, external, stage, timer, arrays))
            result["status"], result["error"] = "ok", None
        except ToolkitError:
            raise
        except BaseException as exc:
            result["status"] = "failed"
            result["error"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            (stage / "error.txt").write_text(traceback.format_exc())
            _write_result(stage, result)
            if isinstance(exc, KeyboardInterrupt):
                raise
            return result
        _write_result(stage, result)
    return result


def _write_result(stage: Path, result: dict[str, Any]) -> None:
    """``result.json`` in strict JSON: undefined numbers are null, and ``null_reasons`` says why."""
    undefined = non_finite_paths(result)
    if undefined:
        result["null_reasons"] = {path: _null_reason(path) for path in undefined}
    write_json(stage / "result.json", result)


def _null_reason(path: str) -> str:
    if path.startswith("auc_"):
        return "AUC undefined: the test samples hold no sample of this class, or only this class"
    return "not a finite number (NaN or infinite)"


def _training_failed(cfg: Config, stage: Path, timer: _Timer, exc: Exception) -> dict[str, Any]:
    """A training that diverged is a failed point with its reason (no model to convert)."""
    precision = _precision(cfg, None, None, None)
    result = {**_describe(cfg, None, precision, None, None), "timings": timer.timings}
    result["status"], result["error"] = "failed", str(exc)
    _write_config(stage / "config.yaml", cfg)
    write_json(stage / "history.json", exc.history if isinstance(exc, TrainingFailed) else {})
    _write_result(stage, result)
    return result


# --- data and model ---------------------------------------------------------------------


def _read_external_arrays(external: External | None) -> dict[str, np.ndarray]:
    """``--inputs`` and ``--expected`` as raw arrays (finite, non-empty), read before anything heavy."""
    if external is None:
        return {}
    arrays = {}
    if external.inputs is not None:
        arrays["inputs"] = read_array(external.inputs, "--inputs")
    if external.expected is not None:
        arrays["expected"] = read_array(external.expected, "--expected")
    return arrays


def _model_and_data(
    cfg: Config,
    external: External | None,
    timer: _Timer,
    progress: bool,
    model_cache: str | Path | None = None,
    arrays: dict[str, np.ndarray] | None = None,
) -> tuple[Any, EvalSet, dict[str, Any]]:
    if external is not None:
        model = load_keras_model(external.model, external.weights, external.trusted)
        return model, _external_evalset(cfg, model, external, arrays or {}), {}
    dataset, evalset = load_data(cfg)
    if len(evalset.calib[0]) == 0:
        raise ToolkitError("data.test_fraction is 1.0, which leaves nothing to train on; use it only with --model.")
    cached = Path(model_cache) / cfg.train_hash() if model_cache is not None else None
    if cached is not None and (cached / "model.h5").is_file():
        history = json.loads((cached / "history.json").read_text())
        return load_keras_model(cached / "model.h5"), evalset, {**history, "from_cache": cfg.train_hash()}
    with timer("train_s"):
        model, history = _train(cfg, dataset, progress)
    if cached is not None:
        _store_in_cache(cached, model, history)
    return model, evalset, history


def load_data(cfg: Config) -> tuple[Any, EvalSet]:
    """The training dataset of ``cfg`` and its evaluation set (test inputs, labels; training inputs to calibrate).

    The model family says what it eats: DeepSets sets, or GarNet's ``[hits, hit count]`` graphs.
    """
    from deepsets_trigger.data import load_dataset
    from deepsets_trigger.models import FAMILIES

    if FAMILIES[cfg.model.kind].inputs == "graph":
        from gnn_keras.data import load_graph_dataset

        graph = load_graph_dataset(cfg.data, cfg.model.head)
        evalset = EvalSet(graph.x_test, graph.y_test, graph.task, graph.class_names, graph.x_train, graph.energy_test)
        return graph, evalset
    data = load_dataset(cfg.data, cfg.model.head)
    return data, EvalSet([data.x_test], data.y_test, data.task, data.class_names, [data.x_train])


def _train(cfg: Config, dataset: Any, progress: bool) -> tuple[Any, dict[str, Any]]:
    from deepsets_trigger.models import FAMILIES
    from deepsets_trigger.train import set_seeds, train_model

    set_seeds(cfg.train.seed)  # before building: the initial weights are drawn here
    family = FAMILIES[cfg.model.kind]
    model = family.build(cfg, as_list(dataset.x_train)[0].shape[1:], dataset.n_outputs)
    family.check(model, cfg.hls)  # a rule the conversion would break fails before training, not after
    weights = cfg.model.loss_weights if cfg.model.head == "both" else None
    return train_model(model, dataset, cfg.train, cfg.pruning, progress=progress, loss_weights=weights)


def _store_in_cache(cached: Path, model: Any, history: dict[str, Any]) -> None:
    """Write model + history under a temporary name, then rename: readers see all or nothing."""
    import shutil

    tmp = cached.with_name(f".{cached.name}.tmp-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    _save_model(model, tmp / "model.h5")
    write_json(tmp / "history.json", history)
    try:
        os.replace(tmp, cached)
    except OSError:  # another process cached the same model first
        shutil.rmtree(tmp, ignore_errors=True)


def _external_evalset(cfg: Config, model: Any, external: External, arrays: dict[str, np.ndarray]) -> EvalSet:
    from deepsets_trigger.data import load_dataset

    shapes = [tuple(int(d) for d in t.shape[1:]) for t in model.inputs]
    n_outputs = int(np.prod(model.outputs[-1].shape[1:]))
    task = "classification" if n_outputs > 1 else "regression"
    if external.inputs is not None:
        x = read_inputs(external.inputs, shapes, arrays["inputs"])
        if "expected" in arrays:  # checked now: before the conversion, not after it
            read_expected(external.expected, len(x[0]), n_outputs, arrays["expected"])
        return EvalSet(x, None, task, (), x)
    data = load_dataset(cfg.data, task)
    if tuple(data.x_test.shape[1:]) != shapes[0]:
        raise ToolkitError(
            f"the data have samples of shape {tuple(data.x_test.shape[1:])} but the model expects {shapes[0]}; "
            "set data.n_constituents / data.features to match the model."
        )
    calib = data.x_train if len(data.x_train) else data.x_test
    return EvalSet([data.x_test], data.y_test, data.task, data.class_names, [calib])


# --- precision --------------------------------------------------------------------------


@dataclass(frozen=True)
class UserHLS:
    """A user's hls4ml YAML: its ``HLSConfig``, the ``hls`` settings it implies, and notes."""

    config: dict[str, Any]
    settings: dict[str, Any]
    notes: list[str]


def _read_user_hls(external: External | None) -> UserHLS | None:
    if external is None or external.hls_config is None:
        return None
    from deepsets_trigger.convert.hls_config import read_user_hls_config, settings_from_user

    hls, settings, notes = read_user_hls_config(external.hls_config)
    return UserHLS(hls, settings_from_user(settings), notes)


def _check_synthesis_tool(cfg: Config) -> None:
    """``hls.synth`` runs hls4ml's ``build()``: refuse before training when the tool is missing."""
    import shutil

    tool = "vitis_hls" if cfg.hls.backend == "Vitis" else "vivado_hls"
    if cfg.hls.synth and shutil.which(tool) is None:
        raise ToolkitError(
            f"hls.synth: true runs C synthesis with {tool}, which is not on PATH; source the Xilinx "
            "settings script first, or set hls.synth: false (the emulation needs only g++)."
        )


def _is_qkeras(model: Any) -> bool:
    return any(layer.__class__.__module__.startswith("qkeras") for layer in model.layers)


def _precision(cfg: Config, model: Any, external: External | None, hls_user: Any) -> Precision:
    from deepsets_trigger.quantize import ptq_layer_precisions, qat_widths

    q = cfg.quantization
    if external is None and q.mode == "qat":
        w = qat_widths(q)
        return Precision("qat", parse_precision("ap_fixed<16,6>"), {}, w.B_H, w.A_H, w.integer_bits)
    if external is not None and _is_qkeras(model):
        bits, integer, act = _qkeras_bits(model)
        default = parse_precision("ap_fixed<16,6>") if hls_user is None else _user_default(hls_user.config)
        return Precision("qat", default, {}, bits, act, integer)
    if hls_user is not None:
        default = _user_default(hls_user.config)
        return Precision("ptq", default, {}, default.width, default.width, default.integer)
    default, layers = ptq_layer_precisions(q)
    mode = "float" if q.mode == "float" else "ptq"
    return Precision(mode, default, layers, default.width, default.width, default.integer)


def _user_default(hls: dict[str, Any]) -> FixedType:
    from deepsets_trigger.convert.hls_config import default_precision_of

    return default_precision_of(hls)


def _qkeras_bits(model: Any) -> tuple[int | None, int | None, int | None]:
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


# --- convert, emulate, compare ----------------------------------------------------------


def _firmware_gap(
    cfg: Config,
    model: Any,
    evalset: EvalSet,
    precision: Precision,
    hls_user: UserHLS | None,
    external: External | None,
    stage: Path,
    timer: _Timer,
    arrays: dict[str, np.ndarray],
) -> dict[str, Any]:
    import yaml

    from deepsets_trigger.convert import (
        compile_model,
        convert,
        input_saturated_fraction,
        layer_reuse_factors,
        measured_sparsity,
        predict,
    )
    from deepsets_trigger.io import captured_output
    from deepsets_trigger.resources import TOTALS, estimate

    with timer("convert_s"):
        conversion = convert(
            model,
            cfg.hls,
            stage / "hls4ml_prj",
            mode=precision.mode,
            default_precision=precision.default,
            layer_precisions=precision.layers,
            input_precision=parse_precision(cfg.quantization.input_precision),
            calib_x=evalset.calib[0] if len(evalset.calib) == 1 else evalset.calib,
            user_hls_config=hls_user.config if hls_user else None,
            log_path=stage / "hls4ml.log",
        )
    notes = (hls_user.notes if hls_user else []) + conversion.notes
    resources = estimate(conversion.hls_model)
    write_json(stage / "resources.json", resources)
    if cfg.hls.strategy == "distributed_arithmetic":  # da4ml logic: yosys counts, else da4ml's estimate
        from deepsets_trigger.resources.da import da_record

        with timer("yosys_s"):
            resources = da_record(model, stage, resources, cfg.hls.clock_period, cache_dir=cfg.data.cache_dir)
        notes.extend(resources.get("notes", []))
    elif cfg.hls.resource_source == "yosys":
        with timer("yosys_s"):
            resources = _yosys_resources(cfg, model, resources, stage, notes)
    write_text_atomic(stage / "hls4ml_config.yml", yaml.safe_dump(plain(conversion.hls_config), sort_keys=False))
    with timer("compile_s"):
        compile_model(conversion)
    x = evalset.x[0] if len(evalset.x) == 1 else evalset.x
    with timer("predict_s"):
        fw = predict(conversion, evalset.x)
    if cfg.hls.synth:
        with timer("synth_s"):
            with captured_output(conversion.log_path):
                report = conversion.hls_model.build(csim=False, synth=True, vsynth=False)
    keras_out = conversion.keras_model.predict(x, verbose=0, batch_size=1024)
    keras_out = [np.asarray(o, dtype=np.float64).reshape(len(fw[0]), -1) for o in as_list(keras_out)]
    saturated = input_saturated_fraction(conversion.hls_model, evalset.x)
    if saturated > SATURATION_NOTE_ABOVE:
        notes.append(
            f"{saturated:.1%} of the test input values lie outside the firmware input type and saturate or wrap: "
            "scale the inputs (data.normalisation.scale, or quantization.input_precision with more integer bits) "
            "or set data.normalisation: {kind: standard}"
        )
    result: dict[str, Any] = {
        **{key: resources[key] for key in TOTALS},
        "sparsity": measured_sparsity(conversion.hls_model),
        "reuse_factors": layer_reuse_factors(conversion.hls_model),
        "input_saturated_fraction": saturated,
        "conversion_notes": notes,
        "emulation_samples_per_s": len(fw[0]) / max(timer.timings["predict_s"], 1e-9),
    }
    if cfg.hls.synth:
        result["hls_synthesis"] = plain(report)
    result.update(_compare(evalset, conversion.outputs, keras_out, fw))
    if len(conversion.outputs) > 1:
        from deepsets_trigger.evaluate import compare_outputs

        result["outputs"] = compare_outputs(conversion.outputs, keras_out, fw)
    _save_predictions(stage / "predictions.npz", evalset, keras_out[-1], fw[-1])
    if external is not None and external.expected is not None:
        from deepsets_trigger.evaluate import compare_expected

        expected = read_expected(external.expected, len(fw[-1]), fw[-1].shape[1], arrays.get("expected"))
        result.update(compare_expected(fw[-1], expected))
    return result


def _yosys_resources(cfg: Config, model: Any, analytic: dict[str, Any], stage: Path, notes: list[str]) -> dict:
    """The yosys tier for QAT models (quantized weights); others keep the analytic numbers, with a note."""
    if cfg.quantization.mode != "qat":
        notes.append("hls.resource_source yosys needs a QAT model (quantized weights): analytic numbers used")
        return analytic
    from deepsets_trigger.resources.yosys import run_record

    return run_record(model, stage, analytic, cache_dir=cfg.data.cache_dir)


def _compare(evalset: EvalSet, outputs: list[str], keras_out: list[np.ndarray], fw: list[np.ndarray]) -> dict[str, Any]:
    from deepsets_trigger.evaluate import compare_classification, compare_regression

    if evalset.energy is not None:  # GarNet heads: sigmoid classification and/or E / 100 GeV
        from deepsets_trigger.evaluate import compare_heads

        return compare_heads(outputs, keras_out, fw, evalset.y, evalset.energy)
    if evalset.task == "regression":
        return compare_regression(keras_out[-1], fw[-1], evalset.y)
    has_logits = len(outputs) > 1
    return compare_classification(
        keras_out[0] if has_logits else None,
        keras_out[-1],
        fw[0] if has_logits else None,
        fw[-1],
        evalset.y,
        evalset.class_names,
    )


def _save_predictions(path: Path, evalset: EvalSet, keras_out: np.ndarray, fw_out: np.ndarray) -> None:
    """Outputs of both on the test samples (for ROC curves and later diagnostics)."""
    arrays = {"keras": keras_out.astype(np.float32), "firmware": fw_out.astype(np.float32)}
    if evalset.y is not None:
        arrays["y"] = np.asarray(evalset.y[0] if isinstance(evalset.y, list) else evalset.y, dtype=np.float32)
    np.savez_compressed(path, **arrays)


# --- record -----------------------------------------------------------------------------


def _describe(
    cfg: Config,
    external: External | None,
    precision: Precision,
    evalset: EvalSet | None,
    hls_user: UserHLS | None,
) -> dict[str, Any]:
    deepsets = external is None and cfg.model.kind == "deepsets"
    x0 = evalset.x[0] if evalset is not None else None
    user_strategy = (hls_user.config.get("Model") or {}).get("Strategy") if hls_user else None
    return {
        "model": cfg.model.kind if external is None else Path(external.model).name,
        "config_hash": cfg.point_hash(),
        "mode": precision.mode,
        "precision": precision.default.ap() if precision.mode != "qat" else None,
        "weight_bits": precision.weight_bits,
        "activation_bits": precision.activation_bits,
        "integer_bits": precision.integer_bits,
        "phi_widths": list(cfg.model.phi) if deepsets else None,
        "rho_widths": list(cfg.model.rho) if deepsets else None,
        "aggregation": cfg.model.aggregation if deepsets else None,
        "n_constituents": int(x0.shape[1]) if x0 is not None and x0.ndim == 3 else None,
        "width": cfg.model.phi[0] if deepsets else None,
        "sparsity": None,
        "target_sparsity": cfg.pruning.sparsity if external is None else None,
        "backend": cfg.hls.backend,
        "strategy": str(user_strategy or cfg.hls.strategy),
        "reuse_factor": cfg.hls.reuse_factor,
        "n_test": int(len(x0)) if x0 is not None else 0,
        "keras_accuracy": None,
        "firmware_accuracy": None,
        "accuracy_ratio": None,
        "logit_agreement": None,
        "max_abs_logit_diff": None,
        "auc_keras": None,
        "auc_firmware": None,
    }


def _write_config(path: Path, cfg: Config) -> None:
    import yaml

    write_text_atomic(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def _save_model(model: Any, path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras calls HDF5 "legacy"; it is what hls4ml users exchange
        model.save(path)
