"""The starting hls4ml config: from the model and a precision spec, or from a user's YAML.

PTQ semantics (documented in the README): a uniform ``ap_fixed<W,I>`` applies to every
layer's weights, biases and results — the tensors that are stored; accumulators are left
to hls4ml's exact inference, the Input takes ``quantization.input_precision``, and the
pooling and softmax internals are set by :mod:`deepsets_trigger.convert.fixes`. A per-layer
map overrides single layers (``{layer: "ap_fixed<…>"}`` or ``{layer: {weight, bias,
result, accum}}``). QAT models take their types from the QKeras quantizers.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from deepsets_trigger.config import read_yaml_mapping
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.precision import FixedType, parse_precision
from deepsets_trigger.yaml_io import hls4ml_loader

# hls4ml-1.0 keys that 1.3.0 rejects: key -> (value it rejects or None for any, why)
_REJECTED = {
    "ConvImplementation": ("Pointwise", "hls4ml 1.3.0 picks its pointwise kernel for k=1 convolutions itself"),
}
_TOP_LEVEL = ("Part", "XilinxPart", "Backend", "ClockPeriod", "IOType", "ProjectName")
# keys of a full project YAML (hls4ml's write() emits all of them) that are never applied: none of
# their paths is read or written, every output goes under --out
_MODEL_PATHS = "the model is the one given with --model, this path is never read"
_IGNORED_TOP_LEVEL = {
    "KerasModel": _MODEL_PATHS,
    "KerasJson": _MODEL_PATHS,
    "KerasH5": _MODEL_PATHS,
    "OutputDir": "the project is written under --out (hls4ml_prj/), never there",
    "InputData": "the inputs are --inputs or the data config's, this path is never read",
    "OutputPredictions": "the outputs are compared with Keras (and --expected), this path is never read",
    "InputShapes": "hls4ml derives it from the model",
    "OutputShapes": "hls4ml derives it from the model",
    "Stamp": "hls4ml makes a new one per build",
    "Version": "the firmware version string of the written project",
    "WriterConfig": "the toolkit writes the project with hls4ml's defaults",
    "ClockUncertainty": "used only by C synthesis, which takes hls4ml's default",
}
_NO_PRECISION = ("Input", "InputLayer", "Softmax", "GlobalAveragePooling1D", "GlobalMaxPooling1D")
# what hls4ml 1.3.0 reads from HLSConfig.Model (hls4ml/model/graph.py, converters/__init__.py)
MODEL_KEYS = (
    "Precision",
    "ReuseFactor",
    "Strategy",
    "BramFactor",
    "TraceOutput",
    "TargetCycles",
    "ConvImplementation",
    "Compression",
    "PipelineStyle",
    "PipelineInterval",
    "BitExact",
)
# hls4ml snake-cases the Strategy and silently treats anything else as Latency
STRATEGIES = ("latency", "resource", "resource_unrolled", "distributed_arithmetic")


def read_user_hls_config(path: str | Path) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Read a user's hls4ml YAML: returns ``(HLSConfig, top-level settings, notes)``.

    Accepts both the full project YAML (``HLSConfig`` plus ``Part``, ``Backend``…, also as
    hls4ml's ``write()`` emits it, ``KerasModel: !keras_model …`` included) and a bare
    ``HLSConfig`` mapping; translates keys that hls4ml 1.3.0 rejects and says so. The notes
    list the top-level keys taken and every one ignored (paths are never followed).

    Raises:
        ToolkitError: unreadable YAML (a ``!!python/...`` tag included), no ``HLSConfig``, a
            ``ProjectName`` that is not a C++ identifier, or a bad entry (see :func:`validate_user_hls`).
    """
    raw = read_yaml_mapping(path, "--hls-config", hls4ml_loader())
    hls = raw.get("HLSConfig", raw if ("Model" in raw or "LayerName" in raw) else None)
    if not isinstance(hls, dict):
        raise ToolkitError(f"--hls-config: {str(path)!r} has no HLSConfig (or Model / LayerName) section.")
    settings = {k: raw[k] for k in _TOP_LEVEL if k in raw}
    _check_project_name(settings.get("ProjectName"))
    hls = copy.deepcopy(hls)
    notes = _top_level_notes(raw, settings)
    notes += _translate(hls)
    validate_user_hls(hls)
    return hls, settings, notes


def _top_level_notes(raw: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """What the top level of a project YAML contributes: the settings taken, and every key ignored (why)."""
    notes = []
    if settings:
        taken = ", ".join(f"{k} {settings[k]!r}" for k in settings)
        notes.append(f"--hls-config: took {taken} (ProjectName only names the project files under --out)")
    sections = {"HLSConfig", "Model", "LayerName", "LayerType"}
    for key in sorted(set(raw) - set(_TOP_LEVEL) - sections):
        if raw[key] is None:
            continue  # hls4ml writes InputData: null, OutputPredictions: null
        why = _IGNORED_TOP_LEVEL.get(key, "not an hls4ml project key the toolkit uses")
        notes.append(f"--hls-config: ignored {key} {_short(raw[key])} ({why})")
    return notes


def _short(value: Any) -> str:
    """A value for a note: strings (paths) whole, long structures cut."""
    text = repr(value)
    return text if isinstance(value, str) or len(text) <= 60 else text[:57] + "..."


def _check_project_name(name: Any) -> None:
    """hls4ml names files and C++ functions after ``ProjectName``: a path or odd text must not get through."""
    import re

    if name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", str(name)):
        raise ToolkitError(
            f"--hls-config: ProjectName {name!r} is not a C++ identifier (hls4ml names files and functions "
            "after it); use letters, digits and underscores, e.g. myproject."
        )


def _snake(text: str) -> str:
    import re

    return re.sub(r"(?<!^)(?<!_)(?=[A-Z])", "_", text).lower()


def validate_user_hls(hls: dict[str, Any]) -> None:
    """Check an ``HLSConfig`` like the config's per-layer map: known Model keys, strategies, reuse factors, types.

    Raises:
        ToolkitError: naming the entry and the valid choices.
    """
    model = hls.get("Model") or {}
    if not isinstance(model, dict):
        raise ToolkitError(f"--hls-config: Model must be a mapping of keys, got {model!r}.")
    unknown = [k for k in model if k not in MODEL_KEYS]
    if unknown:
        raise ToolkitError(f"--hls-config: unknown key Model.{unknown[0]}; valid Model keys: {', '.join(MODEL_KEYS)}.")
    sections = [("Model", model)]
    for group in ("LayerName", "LayerType"):
        entries = hls.get(group) or {}
        if not isinstance(entries, dict) or not all(isinstance(v, dict) for v in entries.values()):
            raise ToolkitError(f"--hls-config: {group} must map names to mappings of settings.")
        sections += [(f"{group}.{name}", entry) for name, entry in entries.items()]
    for where, section in sections:
        if "Strategy" in section and _snake(str(section["Strategy"])) not in STRATEGIES:
            raise ToolkitError(
                f"--hls-config: {where}.Strategy {section['Strategy']!r} is not an hls4ml strategy; use one of "
                "Latency, Resource, Resource_Unrolled, distributed_arithmetic."
            )
        rf = section.get("ReuseFactor")
        if rf is not None and (isinstance(rf, bool) or not isinstance(rf, int) or rf < 1):
            raise ToolkitError(f"--hls-config: {where}.ReuseFactor must be a whole number ≥ 1, got {rf!r}.")
        precision = section.get("Precision")
        specs = precision.items() if isinstance(precision, dict) else [("", precision)] if precision else []
        for kind, text in specs:
            if text != "auto":
                parse_precision(
                    str(text).replace(" ", ""), where=f"--hls-config {where}.Precision{'.' if kind else ''}{kind}"
                )


def check_layer_names(config: dict[str, Any], graph: dict[str, Any]) -> None:
    """Every ``LayerName`` entry of a user's config must name a layer of the converted model.

    hls4ml ignores the others silently, so a typo would leave a layer at the default type.
    """
    known = set(graph) | {f"{name}_linear" for name in graph}
    missing = [name for name in (config.get("LayerName") or {}) if name not in known]
    if missing:
        layers = ", ".join(n for n in graph if graph[n].class_name != "Input")
        raise ToolkitError(
            f"--hls-config: LayerName.{missing[0]} names no layer of the model; its layers are: {layers}."
        )


def _translate(hls: dict[str, Any]) -> list[str]:
    notes = []
    sections = [("Model", hls.get("Model"))]
    sections += [(f"LayerName.{k}", v) for k, v in (hls.get("LayerName") or {}).items()]
    sections += [(f"LayerType.{k}", v) for k, v in (hls.get("LayerType") or {}).items()]
    for where, section in sections:
        if not isinstance(section, dict):
            continue
        for key, (value, why) in _REJECTED.items():
            if key in section and (value is None or section[key] == value):
                section.pop(key)
                notes.append(f"--hls-config: dropped {where}.{key}: {value} ({why})")
        if "table_size" in section:
            section["TableSize"] = section.pop("table_size")
    return notes


def user_result_layers(hls: dict[str, Any]) -> set[str]:
    """Layers whose result type the user's config sets explicitly."""
    chosen = set()
    for name, section in (hls.get("LayerName") or {}).items():
        precision = section.get("Precision") if isinstance(section, dict) else None
        if isinstance(precision, str) or (isinstance(precision, dict) and "result" in precision):
            chosen.add(name)
    return chosen


def model_config(
    model: Any, hls: Any, mode: str, default: FixedType, layers: dict[str, dict[str, FixedType]]
) -> tuple[dict[str, Any], set[str]]:
    """hls4ml config for ``model``; returns ``(config, layers with user-chosen results)``."""
    import hls4ml

    config = hls4ml.utils.config_from_keras_model(
        model, granularity="name", backend=hls.backend, default_precision=default.hls()
    )
    config["Model"].update({"Strategy": hls.strategy, "ReuseFactor": hls.reuse_factor, "Precision": default.hls()})
    keras_class = {layer.name: layer.__class__.__name__ for layer in model.layers}
    for name, section in config.get("LayerName", {}).items():
        if "ReuseFactor" in section:
            section["ReuseFactor"] = hls.reuse_factor
        precision = section.get("Precision")
        if mode == "qat" or not isinstance(precision, dict) or name not in keras_class:
            continue  # QAT types come from the quantizers; hls4ml-inserted layers are fixed later
        if keras_class[name] in _NO_PRECISION or _is_softmax(model.get_layer(name)):
            continue
        for kind in ("weight", "bias", "result"):
            if kind in precision:
                precision[kind] = default.hls()
    unknown = [name for name in layers if name not in keras_class]
    if unknown:
        raise ToolkitError(
            f"quantization.precision names layer {unknown[0]!r}, which the model does not have; "
            f"its layers are: {', '.join(n for n in keras_class if keras_class[n] != 'InputLayer')}."
        )
    for name, kinds in layers.items():
        section = config["LayerName"].setdefault(name, {})
        if not isinstance(section.get("Precision"), dict):
            section["Precision"] = {}
        for kind, t in kinds.items():
            section["Precision"][kind] = t.hls()
    chosen = {name for name, kinds in layers.items() if "result" in kinds}
    return config, chosen


def _is_softmax(layer: Any) -> bool:
    return getattr(getattr(layer, "activation", None), "__name__", "") == "softmax"


def settings_from_user(settings: dict[str, Any]) -> dict[str, Any]:
    """Top-level keys of a user's YAML as ``hls`` config overrides (``XilinxPart`` → ``part``)."""
    out: dict[str, Any] = {}
    if "Part" in settings or "XilinxPart" in settings:
        out["part"] = settings.get("Part", settings.get("XilinxPart"))
    if "Backend" in settings:
        backend = str(settings["Backend"])
        if backend not in ("Vivado", "Vitis"):
            raise ToolkitError(f"--hls-config: Backend {backend!r} is not supported; use Vivado or Vitis.")
        out["backend"] = backend
    if "ClockPeriod" in settings:
        out["clock_period"] = float(settings["ClockPeriod"])
    if "IOType" in settings and settings["IOType"] != "io_parallel":
        raise ToolkitError(f"--hls-config: IOType {settings['IOType']!r} is not supported yet; use io_parallel.")
    if "ProjectName" in settings:
        out["project_name"] = str(settings["ProjectName"])
    return out


def default_precision_of(hls: dict[str, Any]) -> FixedType:
    """The Model-level default precision of a user's HLSConfig (``ap_fixed<16,6>`` if unset)."""
    precision = (hls.get("Model") or {}).get("Precision", "ap_fixed<16,6>")
    if isinstance(precision, dict):
        precision = precision.get("default", "ap_fixed<16,6>")
    return parse_precision(str(precision).replace(" ", ""), where="--hls-config Model.Precision")
