"""Gap diagnostics: which layer makes the firmware differ from Keras, why, and what would fix it.

:func:`diagnose` traces every layer of the C++ emulation and of the Keras model on the same
inputs and names the first layer where the firmware goes wrong (:mod:`.layers`);
:func:`diagnose_run` does it for a ``run`` output directory and writes ``diagnosis.json``
(contract), ``diagnosis.md`` and plots (:mod:`.plots`); :mod:`.advisor` proposes per-layer
``ap_fixed<W,I>`` for PTQ models and verifies them by re-emulation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger import registry
from deepsets_trigger.config import HLSSettings, config_from_dict, read_yaml_mapping
from deepsets_trigger.convert import compile_model, enable_trace, reconvert, trace
from deepsets_trigger.convert.hls_config import read_user_hls_config, settings_from_user
from deepsets_trigger.data import load_data
from deepsets_trigger.data.arrays import n_samples
from deepsets_trigger.diagnose.advisor import advise as run_advisor
from deepsets_trigger.diagnose.layers import LayerReport, compare_layers, keras_layer_outputs
from deepsets_trigger.diagnose.plots import plot_errors, plot_ranges
from deepsets_trigger.diagnose.report import markdown
from deepsets_trigger.diagnose.type_advisor import advise_types
from deepsets_trigger.diagnose.verdict import counterfactuals, verdict, verified_twin
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import (
    check_writable_parent,
    mark_outputs,
    read_inputs,
    write_json,
    write_text_atomic,
)
from deepsets_trigger.model_files import load_keras_model

__all__ = ["diagnose", "diagnose_run", "load_run"]

DEFAULT_SAMPLES = 1000


def diagnose(conversion: Any, x: Any, work: Path | None = None) -> tuple[dict[str, Any], list[LayerReport]]:
    """Trace ``conversion`` on ``x``, compare every layer with Keras, attribute the gap, name the culprit.

    The C++ is compiled with tracing; when the firmware twin matches it bit for bit (every output and
    traced layer) the per-layer values and the counterfactuals come from the twin, else from the
    C++ (one compile per counterfactual, written under ``work``).

    Returns:
        The ``diagnosis.json`` record (``emulator`` says which produced the numbers) and the rows.
    """
    import tempfile

    enable_trace(conversion)
    compile_model(conversion)
    outputs, firmware = trace(conversion, x)
    twin, check, note = verified_twin(conversion, x, outputs, firmware)
    if twin is not None:
        # verified equal to the C++ trace: the same numbers, now the twin's
        firmware = {name: values for name, values in twin.trace(x).items() if name in firmware}
    keras_values = keras_layer_outputs(conversion.keras_model, x)
    reports = compare_layers(conversion.hls_model, conversion.keras_model, keras_values, firmware)
    keras_logits = keras_values.get(conversion.outputs[0])
    attribution = None
    if keras_logits is not None and not np.array_equal(keras_logits, outputs[0]):
        with tempfile.TemporaryDirectory(prefix="counterfactuals-", dir=work) as tmp:
            kind = "twin" if twin is not None else "cpp"
            attribution = counterfactuals(conversion, x, outputs, keras_logits, kind, Path(tmp))
    record = {
        **verdict(reports, attribution, n_samples(x)),
        "n_samples": n_samples(x),
        "emulator": "twin" if twin is not None else "cpp",
        "twin_check": check,
        "emulator_note": note,
        "attribution": attribution.to_dict() if attribution is not None else None,
        "layers": [r.to_dict() for r in reports],
    }
    return record, reports


def load_run(run_dir: str | Path, work_dir: Path) -> tuple[Any, Any, Any]:
    """(config, model, conversion) of a ``run`` directory, converted again from its final hls4ml config."""

    run = Path(run_dir)
    if not run.is_dir():
        raise ToolkitError(f"{run} is not a directory: pass a directory written by 'deepsets-trigger run'.")
    missing = [n for n in ("model.h5", "hls4ml_config.yml", "config.yaml") if not (run / n).is_file()]
    if missing:
        raise ToolkitError(
            f"{run} holds no converted model ({', '.join(missing)} missing): pass the output directory of a "
            "'deepsets-trigger run' that reached conversion."
        )
    cfg = config_from_dict(read_yaml_mapping(run / "config.yaml", "config.yaml"))
    hls_config = read_yaml_mapping(run / "hls4ml_config.yml", "the run's hls4ml_config.yml")
    model = load_keras_model(run / "model.h5")
    conversion = reconvert(model, hls_config, cfg.hls, work_dir / "hls4ml_prj", work_dir / "hls4ml.log")
    return cfg, model, conversion


def load_external(
    model_path: str, weights: str | None, hls_config: str, trusted: tuple[str, ...], work_dir: Path
) -> tuple[Any, Any, list[str], HLSSettings]:
    """(model, conversion, notes on the YAML, hls settings) of a user's model and hls4ml YAML, as configured."""

    config, settings, notes = read_user_hls_config(hls_config)
    model = load_keras_model(model_path, weights, trusted)
    hls = HLSSettings(**settings_from_user(settings))
    return model, reconvert(model, config, hls, work_dir / "hls4ml_prj", work_dir / "hls4ml.log"), notes, hls


def run_inputs(cfg: Any, model: Any, n_samples: int, inputs: str | None) -> tuple[list[np.ndarray], Any, Any]:
    """(test inputs, labels or None, calibration inputs): from ``--inputs`` or the run's data config."""

    if inputs is not None:
        shapes = [tuple(int(d) for d in t.shape[1:]) for t in model.inputs]
        x = read_inputs(inputs, shapes)
        return [a[:n_samples] for a in x], None, x
    data = load_data(cfg)
    x = [a[:n_samples] for a in data.x_test]
    # multi-head models (GarNet's sigmoid + energy) are not what the advisor scores: no labels for them
    y = None if data.heads or data.task != "classification" else data.y_test[:n_samples]
    return x, y, data.calibration


def diagnose_run(
    run_dir: str | Path | None,
    out: str | Path | None = None,
    n_samples: int = DEFAULT_SAMPLES,
    inputs: str | None = None,
    advise: bool = False,
    target_ratio: float = 0.99,
    external: tuple[str, str | None, str, tuple[str, ...]] | None = None,
    target_agreement: float | None = None,
) -> dict[str, Any]:
    """Diagnose a run directory, or ``external = (model, weights, hls4ml YAML)`` with ``inputs``.

    Writes ``diagnosis.json``, ``diagnosis.md`` and plots into ``out`` (default: the run directory);
    with ``advise``, ``advised_hls4ml_config.yml`` too (:mod:`.advisor` for PTQ/float runs,
    :mod:`.type_advisor` for QAT runs and external models).

    Raises:
        ToolkitError: bad arguments or run directory (nothing is written).
    """
    import tempfile

    _check_arguments(run_dir, n_samples, inputs, out, target_ratio, target_agreement, external)
    out = Path(out) if out is not None else Path(run_dir)
    if out.exists() and not out.is_dir():
        raise ToolkitError(f"--out {str(out)!r} is a file; give a directory for the diagnosis.")
    check_writable_parent(out)
    with tempfile.TemporaryDirectory(prefix="diagnose-") as tmp:
        notes: list[str] = []
        if external is not None:
            model, conversion, notes, hls = load_external(*external, Path(tmp))
            cfg = None
        else:
            cfg, model, conversion = load_run(run_dir, Path(tmp))
            hls = cfg.hls
        x, y, calib = run_inputs(cfg, model, n_samples, inputs)
        x_in = x[0] if len(x) == 1 else x
        record, reports = diagnose(conversion, x_in, Path(tmp))
        record["conversion_notes"] = notes + conversion.notes
        out.mkdir(parents=True, exist_ok=True)  # only now: bad input leaves no directory behind
        opaque = sorted({r["hls_class"] for r in record["layers"]} & registry.opaque_layers())
        if opaque:
            record["note"] = f"{', '.join(opaque)} layers are traced as one block (hls4ml exposes no internals)"
        record["run"] = str(run_dir) if run_dir is not None else external[0]
        if advise and (cfg is None or cfg.quantization.mode == "qat"):
            record["advice"] = advise_types(
                model, conversion, hls, x_in, record["emulator"], target_agreement, Path(tmp), out
            )
        elif advise:
            record["advice"] = run_advisor(cfg, model, x, y, calib, target_ratio, Path(tmp), out)
    _write(out, record, reports, advise)
    return record


def _check_arguments(
    run_dir: Any, n: int, inputs: Any, out: Any, target_ratio: float, target_agreement: Any, external: Any
) -> None:
    if n <= 0:
        raise ToolkitError(f"--n-samples must be positive, got {n}.")
    if not 0 < target_ratio <= 1.5:
        raise ToolkitError(f"--target-ratio must be in (0, 1.5], got {target_ratio}.")
    if target_agreement is not None and not 0 < target_agreement <= 1:
        raise ToolkitError(f"--target-agreement must be in (0, 1], got {target_agreement}.")
    if (run_dir is None) == (external is None):
        raise ToolkitError("diagnose takes a run directory, or --model with --hls-config and --inputs (not both).")
    if external is not None and (inputs is None or out is None):
        raise ToolkitError("diagnosing --model needs --hls-config, --inputs and --out.")


def _write(out: Path, record: dict[str, Any], reports: list[LayerReport], advise: bool) -> None:
    """Plots, ``diagnosis.md`` and ``diagnosis.json`` (each written whole), and the ownership marker."""
    import matplotlib.pyplot as plt

    figures = {"diagnosis_ranges.png": plot_ranges(reports), "diagnosis_errors.png": plot_errors(reports)}
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=120, bbox_inches="tight")
        plt.close(fig)
    write_text_atomic(out / "diagnosis.md", markdown(record))
    write_json(out / "diagnosis.json", record)
    written = [*figures, "diagnosis.md", "diagnosis.json", *(["advised_hls4ml_config.yml"] if advise else [])]
    mark_outputs(out, "diagnosis", written)
