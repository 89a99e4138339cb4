"""The firmware side of a point: convert, estimate resources, emulate, compare with Keras."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger import registry
from deepsets_trigger.config import Config
from deepsets_trigger.convert import (
    compile_model,
    convert,
    input_saturated_fraction,
    layer_reuse_factors,
    measured_sparsity,
    predict,
)
from deepsets_trigger.data import Dataset
from deepsets_trigger.data.arrays import as_list
from deepsets_trigger.evaluate import compare_expected, compare_firmware, compare_outputs
from deepsets_trigger.io import (
    captured_output,
    plain,
    read_expected,
    write_json,
    write_text_atomic,
)
from deepsets_trigger.pipeline.inputs import External, Timer, UserHLS
from deepsets_trigger.precision import parse_precision
from deepsets_trigger.quantize import Precision
from deepsets_trigger.resources import TOTALS, estimate
from deepsets_trigger.resources.da import da_record
from deepsets_trigger.resources.yosys import run_record

SATURATION_NOTE_ABOVE = 0.01  # fraction of input values outside the firmware input type worth a note


def firmware_gap(
    cfg: Config,
    model: Any,
    data: Dataset,
    precision: Precision,
    hls_user: UserHLS | None,
    external: External | None,
    stage: Path,
    timer: Timer,
    arrays: dict[str, np.ndarray],
) -> dict[str, Any]:

    conversion, notes = _convert(cfg, model, data, precision, hls_user, stage, timer)
    resources = _resources(cfg, model, conversion, stage, timer, notes)
    keras_out, fw, report = _emulate(cfg, conversion, data, timer)
    saturated = input_saturated_fraction(conversion.hls_model, data.x_test)
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
    if report is not None:
        result["hls_synthesis"] = plain(report)
    family = registry.family(cfg.model.kind) if external is None else None
    compare = family.compare if family is not None and family.compare is not None else _compare_default
    result.update(compare(data, conversion.outputs, keras_out, fw))
    if len(conversion.outputs) > 1:
        result["outputs"] = compare_outputs(conversion.outputs, keras_out, fw)
    _save_predictions(stage / "predictions.npz", data, keras_out[-1], fw[-1])
    if external is not None and external.expected is not None:
        expected = read_expected(external.expected, len(fw[-1]), fw[-1].shape[1], arrays.get("expected"))
        result.update(compare_expected(fw[-1], expected))
    return result


def _compare_default(data: Dataset, outputs: list[str], keras_out: list[np.ndarray], fw: list[np.ndarray]) -> dict:

    return compare_firmware(data, outputs, keras_out, fw)


def _convert(
    cfg: Config,
    model: Any,
    data: Dataset,
    precision: Precision,
    hls_user: UserHLS | None,
    stage: Path,
    timer: Timer,
) -> tuple[Any, list[str]]:
    import yaml

    calibration = data.calibration
    with timer("convert_s"):
        conversion = convert(
            model,
            cfg.hls,
            stage / "hls4ml_prj",
            mode=precision.mode,
            default_precision=precision.default,
            layer_precisions=precision.layers,
            input_precision=parse_precision(cfg.quantization.input_precision),
            calib_x=calibration[0] if len(calibration) == 1 else calibration,
            user_hls_config=hls_user.config if hls_user else None,
            log_path=stage / "hls4ml.log",
        )
    yml = yaml.safe_dump(plain(conversion.hls_config), sort_keys=False)
    write_text_atomic(stage / "hls4ml_config.yml", yml)
    return conversion, (hls_user.notes if hls_user else []) + conversion.notes


def _resources(cfg: Config, model: Any, conversion: Any, stage: Path, timer: Timer, notes: list[str]) -> dict:
    """The analytic estimate; with distributed arithmetic or ``resource_source: yosys``, the synthesis tier."""

    resources = estimate(conversion.hls_model)
    write_json(stage / "resources.json", resources)
    if cfg.hls.strategy == "distributed_arithmetic":  # da4ml logic: yosys counts, else da4ml's estimate
        with timer("yosys_s"):
            resources = da_record(model, stage, resources, cfg.hls.clock_period, cache_dir=cfg.data.cache_dir)
        notes.extend(resources.get("notes", []))
    elif cfg.hls.resource_source == "yosys":
        if cfg.quantization.mode != "qat":
            notes.append("hls.resource_source yosys needs a QAT model (quantized weights): analytic numbers used")
            return resources

        with timer("yosys_s"):
            resources = run_record(model, stage, resources, cache_dir=cfg.data.cache_dir)
    return resources


def _emulate(cfg: Config, conversion: Any, data: Dataset, timer: Timer) -> tuple[list, list, Any]:
    """Keras and firmware outputs on the test samples (and the C-synthesis report with ``hls.synth``)."""

    with timer("compile_s"):
        compile_model(conversion)
    with timer("predict_s"):
        fw = predict(conversion, data.x_test)
    report = None
    if cfg.hls.synth:
        with timer("synth_s"), captured_output(conversion.log_path):
            report = conversion.hls_model.build(csim=False, synth=True, vsynth=False)
    x = data.x_test[0] if len(data.x_test) == 1 else data.x_test
    keras_out = conversion.keras_model.predict(x, verbose=0, batch_size=1024)
    keras_out = [np.asarray(o, dtype=np.float64).reshape(len(fw[0]), -1) for o in as_list(keras_out)]
    return keras_out, fw, report


def _save_predictions(path: Path, data: Dataset, keras_out: np.ndarray, fw_out: np.ndarray) -> None:
    """Outputs of both on the test samples (for ROC curves and later diagnostics)."""
    arrays = {"keras": keras_out.astype(np.float32), "firmware": fw_out.astype(np.float32)}
    if data.y_test is not None:
        y = data.y_test[0] if isinstance(data.y_test, list) else data.y_test
        arrays["y"] = np.asarray(y, dtype=np.float32)
    np.savez_compressed(path, **arrays)
