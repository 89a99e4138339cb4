"""The firmware side of a point: convert, estimate resources, emulate, compare with Keras."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger import registry
from deepsets_trigger.config import Config
from deepsets_trigger.convert import (
    compile_model,
    convert,
    fingerprint,
    input_saturated_fraction,
    layer_reuse_factors,
    measured_sparsity,
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
from deepsets_trigger.pipeline.emulation import finish_emulation, start_emulation
from deepsets_trigger.pipeline.inputs import External, Timer, UserHLS
from deepsets_trigger.precision import parse_precision
from deepsets_trigger.quantize import Precision
from deepsets_trigger.resources import TOTALS, estimate
from deepsets_trigger.resources.da import da_record
from deepsets_trigger.resources.yosys import run_record

SATURATION_NOTE_ABOVE = 0.01  # fraction of input values outside the firmware input type worth a note


@dataclass
class FirmwareState:
    """A point between :func:`firmware_start` and :func:`firmware_finish`."""

    cfg: Config
    model: Any
    data: Dataset
    conversion: Any
    notes: list[str]
    resources: dict[str, Any]
    emulation: Any  # a started emulation (see emulation.start_emulation)
    stage: Path
    timer: Timer


def firmware_start(
    cfg: Config,
    model: Any,
    data: Dataset,
    precision: Precision,
    hls_user: UserHLS | None,
    stage: Path,
    timer: Timer,
    plan: str,
) -> FirmwareState:
    """Convert, estimate resources and start the emulation (by ``plan``: see :mod:`.emulation`)."""
    conversion, notes = _convert(cfg, model, data, precision, hls_user, stage, timer)
    resources = _resources(cfg, model, conversion, stage, timer, notes)
    started = start_emulation(cfg, conversion, timer, plan)
    return FirmwareState(cfg, model, data, conversion, notes, resources, started, stage, timer)


def firmware_finish(state: FirmwareState, external: External | None, arrays: dict[str, np.ndarray]) -> dict:
    """Finish the emulation, compare with Keras, write the predictions; return the record's firmware fields."""
    cfg, data, conversion, timer = state.cfg, state.data, state.conversion, state.timer
    emulation = finish_emulation(state.emulation, data.x_test, timer)
    fw, notes = emulation.outputs, state.notes + emulation.notes
    keras_out = _keras_outputs(state.model, conversion, data.x_test, len(fw[0]))
    report = _synthesis(cfg, conversion, timer)
    saturated = input_saturated_fraction(conversion.hls_model, data.x_test)
    if saturated > SATURATION_NOTE_ABOVE:
        notes.append(
            f"{saturated:.1%} of the test input values lie outside the firmware input type and saturate or wrap: "
            "scale the inputs (data.normalisation.scale, or quantization.input_precision with more integer bits) "
            "or set data.normalisation: {kind: standard}"
        )
    result: dict[str, Any] = {
        **{key: state.resources[key] for key in TOTALS},
        "sparsity": measured_sparsity(conversion.hls_model),
        "reuse_factors": layer_reuse_factors(conversion.hls_model),
        "input_saturated_fraction": saturated,
        "conversion_notes": notes,
        "emulator": emulation.emulator,
        "twin_check": emulation.twin_check,
        "emulation_samples_per_s": len(fw[0]) / max(timer.timings["predict_s"], 1e-9),
    }
    if report is not None:
        result["hls_synthesis"] = plain(report)
    # an external model evaluated on the config's data is compared like that data's family
    family = registry.family(cfg.model.kind) if external is None or external.inputs is None else None
    compare = family.compare if family is not None and family.compare is not None else compare_firmware
    result.update(compare(data, conversion.outputs, keras_out, fw))
    if len(conversion.outputs) > 1:
        result["outputs"] = compare_outputs(conversion.outputs, keras_out, fw)
    _save_predictions(state.stage / "predictions.npz", data, conversion.outputs, keras_out, fw)
    if external is not None and external.expected is not None:
        expected = read_expected(external.expected, len(fw[-1]), fw[-1].shape[1], arrays.get("expected"))
        result.update(compare_expected(fw[-1], expected))
    return result


def _keras_outputs(source: Any, conversion: Any, x: list[np.ndarray], n: int) -> list[np.ndarray]:
    """Keras outputs of the converted model on ``x`` (kept for the next point of the same trained model)."""
    key = (tuple(conversion.outputs), fingerprint(source.get_weights()), fingerprint(x))
    if _KERAS.get("key") == key:  # the same weights and samples: a study group's next point
        return _KERAS["value"]
    out = conversion.keras_model.predict(x[0] if len(x) == 1 else x, verbose=0, batch_size=1024)
    value = [np.asarray(o, dtype=np.float64).reshape(n, -1) for o in as_list(out)]
    _KERAS.update(key=key, value=value)
    return value


_KERAS: dict[str, Any] = {}


def _synthesis(cfg: Config, conversion: Any, timer: Timer) -> Any:
    """hls4ml's C synthesis (``hls.synth``, where the HLS tool exists): its report, else ``None``."""
    if not cfg.hls.synth:
        return None
    if conversion.library is None:
        compile_model(conversion)  # a twin point has not written its project yet
    with timer("synth_s"), captured_output(conversion.log_path):
        return conversion.hls_model.build(csim=False, synth=True, vsynth=False)


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
    return conversion, (hls_user.notes if hls_user else []) + list(precision.notes) + conversion.notes


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


def _save_predictions(
    path: Path, data: Dataset, names: list[str], keras_out: list[np.ndarray], fw_out: list[np.ndarray]
) -> None:
    """Outputs of both on the test samples (ROC curves, later diagnostics).

    ``keras``/``firmware``/``y`` are the classifying head's (else the last output) and its labels;
    a model with several outputs also gets ``keras_<name>``, ``firmware_<name>``, ``y_<name>`` per
    output and the data's per-sample test extras (e.g. GarNet's ``energy_test``).
    """
    head = -1
    if "classification" in data.heads and len(keras_out) == len(data.heads):
        head = data.heads.index("classification")
    arrays = {"keras": keras_out[head].astype(np.float32), "firmware": fw_out[head].astype(np.float32)}
    if data.y_test is not None:
        y = data.y_test[max(head, 0)] if isinstance(data.y_test, list) else data.y_test
        arrays["y"] = np.asarray(y, dtype=np.float32)
    if data.class_names:
        arrays["class_names"] = np.asarray(data.class_names, dtype=str)
    if len(names) > 1:
        ys = data.y_test if isinstance(data.y_test, list) else [None] * len(names)
        for name, k, f, y in zip(names, keras_out, fw_out, ys, strict=False):
            arrays.update({f"keras_{name}": k.astype(np.float32), f"firmware_{name}": f.astype(np.float32)})
            if y is not None:
                arrays[f"y_{name}"] = np.asarray(y, dtype=np.float32)
        arrays.update({k: np.asarray(v) for k, v in data.extras.items() if k.endswith("_test")})
    np.savez_compressed(path, **arrays)
