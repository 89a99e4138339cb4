"""Keras/QKeras model → hls4ml model that computes what Keras computes.

``convert`` runs the registered fixes (:mod:`.fixes`) around two hls4ml conversions: the
``keras`` and ``weights`` phases prepare the Keras model (:mod:`.keras_prep`), a starting config
is built (:mod:`.hls_config`), a first conversion shows the types hls4ml infers, the ``config``
phase corrects them, the final conversion follows, and the ``model`` phase touches its weights.
``compile_model`` / ``predict`` / ``trace`` run hls4ml's C++ emulation (:mod:`.cpp`).
"""

from __future__ import annotations

import copy
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger import registry
from deepsets_trigger.config import DA_RULES
from deepsets_trigger.convert.cpp import compile_model, enable_trace, predict, start_build, trace
from deepsets_trigger.convert.fixes import FixContext, apply_phase, read_graph
from deepsets_trigger.convert.hls_config import check_layer_names, model_config, user_result_layers
from deepsets_trigger.convert.keras_prep import input_quantizer_layer, prepare_keras
from deepsets_trigger.convert.supported import check_registered
from deepsets_trigger.data.arrays import as_list
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import captured_output
from deepsets_trigger.precision import FixedType, from_hls4ml

__all__ = [
    "Conversion",
    "check_registered",
    "compile_model",
    "convert",
    "enable_trace",
    "input_saturated_fraction",
    "layer_reuse_factors",
    "measured_sparsity",
    "predict",
    "reconvert",
    "softmax_producers",
    "start_build",
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
    library: str | None = None  # the compiled C++ emulation library, once built


def _hls4ml_convert(model: Any, config: dict[str, Any], hls: Any, output_dir: Path, log: Path) -> Any:
    import hls4ml

    with captured_output(log):
        return hls4ml.converters.convert_from_keras_model(
            model,
            hls_config=config,
            output_dir=str(output_dir),
            project_name=hls.project_name,
            backend=hls.backend,
            io_type=hls.io_type,
            part=hls.part,
            clock_period=hls.clock_period,
            bit_exact=True if hls.bit_exact else None,
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


def _observed_ranges(model: Any, names: list[str], calib_x: Any, source: Any) -> dict[str, float]:
    """max |value| of the layers ``names`` on the calibration inputs (kept for the next point of ``source``)."""
    if not names or calib_x is None:
        return {}
    key = (tuple(names), fingerprint(source.get_weights()), fingerprint(as_list(calib_x)))
    if _RANGES.get("key") == key:  # the same weights and inputs: a study group's next precision
        return _RANGES["value"]
    from tensorflow import keras

    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    values = probe.predict(calib_x, verbose=0, batch_size=1024)
    values = values if isinstance(values, list) else [values]
    ranges = {n: float(np.max(np.abs(v))) for n, v in zip(names, values, strict=True)}
    _RANGES.update(key=key, value=ranges)
    return ranges


# the last observed ranges: the points of one trained model share them
_RANGES: dict[str, Any] = {}


def fingerprint(arrays: list[np.ndarray]) -> str:
    """A digest of arrays' contents (to reuse what was computed from the very same numbers)."""
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _check_rules(model: Any, hls: Any, mode: str, config: dict[str, Any] | None) -> None:
    """What the conversion cannot do faithfully: the strategy's and every family's rules."""
    if hls.strategy == "distributed_arithmetic" and mode != "qat":
        raise ToolkitError(DA_RULES["mode"].format(value=mode))  # e.g. run --model with a float model
    for family in registry.families().values():
        if family.check is not None:
            family.check(model, hls, config)


def _starting_config(
    prepared: Any,
    hls: Any,
    mode: str,
    default_precision: FixedType,
    layer_precisions: dict[str, dict[str, FixedType]] | None,
    user_hls_config: dict[str, Any] | None,
    ctx: FixContext,
) -> tuple[dict[str, Any], set[str]]:
    """The generated (or the user's) hls4ml config, with types found by the Keras phases."""
    if user_hls_config is not None:
        config = copy.deepcopy(user_hls_config)
        config.setdefault("Model", {}).setdefault("Precision", default_precision.hls())
        config["Model"].setdefault("ReuseFactor", hls.reuse_factor)
        config["Model"].setdefault("Strategy", hls.strategy)
        chosen = user_result_layers(config)
    else:
        config, chosen = model_config(prepared, hls, mode, default_precision, layer_precisions or {})
    for name, t in ctx.result_types.items():
        config.setdefault("LayerName", {}).setdefault(name, {}).setdefault("Precision", {})["result"] = t.hls()
        chosen.add(name)
    return config, chosen


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

    Args:
        model: the Keras/QKeras model (never modified).
        hls: the ``hls`` settings section.
        output_dir: where hls4ml's project goes (written by ``compile_model``).
        mode: ``float`` | ``ptq`` | ``qat`` (QAT types come from the quantizers).
        default_precision, layer_precisions: the PTQ types.
        input_precision: the Input's type when there is no input quantizer.
        calib_x: training inputs: the observed logit ranges.
        user_hls_config: an ``HLSConfig`` mapping that replaces the generated starting config.
        log_path: everything hls4ml prints goes there.

    Returns:
        The :class:`Conversion`, with every fix's note.

    Raises:
        ToolkitError: a rule the conversion cannot honour (named), a layer hls4ml has no converter
            for, or a user config naming layers the model does not have.
    """
    log = Path(log_path) if log_path is not None else Path(_temporary_log())
    registry.register_hls4ml_extensions()  # families' own layers, before hls4ml parses anything
    ctx = FixContext(hls=hls, user_config=user_hls_config is not None)
    prepared, outputs, notes = prepare_keras(model, ctx, hls.expose_logits)
    check_registered(prepared)
    quant_layer = input_quantizer_layer(prepared)
    if hls.bit_exact and quant_layer is None:
        raise ToolkitError(
            "hls.bit_exact needs an input quantizer right after the Input (hls4ml trap 4): add "
            "QActivation(quantized_bits(W, I, alpha=1)) as the first layer, or set hls.bit_exact: false."
        )
    config, chosen = _starting_config(prepared, hls, mode, default_precision, layer_precisions, user_hls_config, ctx)
    _check_rules(prepared, hls, mode, config)
    graph = read_graph(_hls4ml_convert(prepared, config, hls, Path(output_dir), log))
    if user_hls_config is not None:
        check_layer_names(config, graph)
    ctx.hls_config, ctx.user_results = config, chosen
    ctx.output_ranges = _observed_ranges(prepared, softmax_producers(prepared), calib_x, model)
    _input_types(ctx, graph, quant_layer, input_precision)
    ctx.softmax_table_size = None if user_hls_config is not None else hls.softmax_table_size
    ctx.reuse_factor = int(config.get("Model", {}).get("ReuseFactor", hls.reuse_factor))
    ctx.backend = hls.backend
    notes += apply_phase("config", config, graph, ctx=ctx)
    hls_model = _hls4ml_convert(prepared, config, hls, Path(output_dir), log)
    notes += apply_phase("model", hls_model, ctx=ctx)
    return Conversion(hls_model, prepared, outputs, config, notes, log)


def reconvert(
    model: Any, hls_config: dict[str, Any], hls: Any, output_dir: str | Path, log_path: str | Path
) -> Conversion:
    """Convert again with a run's final config (``hls4ml_config.yml``): no config fixes, the same firmware."""
    registry.register_hls4ml_extensions()
    ctx = FixContext(hls=hls, hls_config=hls_config, user_config=True)
    prepared, outputs, notes = prepare_keras(model, ctx, hls.expose_logits)
    check_registered(prepared)
    hls_model = _hls4ml_convert(prepared, hls_config, hls, Path(output_dir), Path(log_path))
    notes += apply_phase("model", hls_model, ctx=ctx)
    return Conversion(hls_model, prepared, outputs, hls_config, notes, Path(log_path))


def _input_types(ctx: FixContext, graph: dict[str, Any], quant_layer: Any, input_precision: FixedType | None) -> None:
    """The Input's type: its quantizer's (absorbed into the Input in bit-exact mode), the user's, or the config's."""
    absorbed = None if quant_layer is None else quant_layer.name not in graph
    user_input = ctx.user_config and _user_sets_input(ctx.hls_config, graph)
    ctx.input_quantizer_type = graph[quant_layer.name].result if absorbed is False else None
    ctx.input_precision = None if absorbed or user_input else input_precision


def _temporary_log() -> str:
    fd, path = tempfile.mkstemp(suffix=".log")
    os.close(fd)
    return path


def _user_sets_input(config: dict[str, Any], graph: dict[str, Any]) -> bool:
    inputs = [name for name, layer in graph.items() if layer.class_name == "Input"]
    return any(name in user_result_layers(config) for name in inputs)


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
