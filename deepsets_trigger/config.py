"""The study schema: YAML → validated dataclasses, defaults, and a stable hash.

One schema serves ``run``, ``study`` and the notebooks. Sections: ``data``, ``model``,
``train``, ``quantization``, ``pruning``, ``hls``, ``grid``. Unknown keys and bad values
fail here, at the edge, with the valid choices listed; nothing below re-validates.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.precision import parse_precision


@dataclass
class NormalisationConfig:
    """How inputs are scaled: ``fixed`` ranges, or ``standard``/``robust`` fitted on train only.

    ``auto`` (the default) is ``fixed`` when a ``scale`` is given and ``standard`` otherwise:
    unscaled physics inputs (pT in GeV) would saturate the firmware's input type.
    """

    kind: Literal["auto", "fixed", "standard", "robust", "none"] = "auto"
    scale: list[float] | None = None  # per feature, for kind: fixed (or auto)


@dataclass
class DataConfig:
    """Where samples come from and how they are split."""

    source: Literal["npy", "toy", "h5", "pythia", "calo"] = "toy"
    x: str | None = None
    y: str | None = None
    path: str | None = None  # source h5: a jet file in the hls4ml format
    n_constituents: int = 8
    features: list[int] | None = None  # npy: feature columns to keep (default: all)
    feature_names: list[str] = field(default_factory=lambda: ["j1_pt", "j1_etarel", "j1_phirel"])  # h5 / pythia
    min_pt: float = 0.0  # h5 / pythia: keep jets with j_pt ≥ min_pt (GeV)
    n_jets: int = 10000  # pythia: jets to generate (balanced over the five classes)
    pt_min: float = 900.0  # pythia: pT-hat window (GeV)
    pt_max: float = 1100.0
    gen_workers: int = 2  # pythia: generator processes (part of the file's identity)
    cache_dir: str = "~/.cache/deepsets-trigger"  # pythia / calo: generated files are kept here
    n_events: int = 10000  # calo: events to simulate (balanced over particles)
    particles: list[str] = field(default_factory=lambda: ["pi0", "pi+"])  # calo: classes (or what to simulate)
    pileup: float = 0.0  # calo: mean number of soft pile-up particles
    normalisation: NormalisationConfig = field(default_factory=NormalisationConfig)
    test_fraction: float = 0.2
    val_fraction: float = 0.1
    seed: int = 0
    n_samples: int = 6000  # toy source only
    n_classes: int = 5  # toy source only
    task: Literal["classification", "regression"] = "classification"  # toy / calo sources


@dataclass
class ModelConfig:
    """Which model family and its shape (DeepSets: φ widths, aggregation, ρ widths, head)."""

    kind: str = "deepsets"
    phi: list[int] = field(default_factory=lambda: [32, 32, 32])
    rho: list[int] = field(default_factory=lambda: [32])
    phi_width: int | None = None  # sets every φ layer's width (a grid axis); None keeps ``phi``
    aggregation: Literal["mean", "max"] = "mean"
    head: Literal["classification", "regression", "both"] = "classification"  # both: GarNet's two heads
    activation: Literal["relu"] = "relu"
    # GarNet / GarNetStack (one entry per sublayer) and the Dense layers after it
    aggregators: list[int] = field(default_factory=lambda: [4])
    filters: list[int] = field(default_factory=lambda: [8])
    propagate: list[int] = field(default_factory=lambda: [8])
    dense: list[int] = field(default_factory=lambda: [16, 8])
    loss_weights: list[float] = field(default_factory=lambda: [1.0, 1.0])  # head both: classification, regression


@dataclass
class TrainConfig:
    """Adam with early stopping and learning-rate reduction; fixed seeds."""

    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 0.002
    patience: int = 6
    lr_patience: int = 3
    lr_factor: float = 0.5
    seed: int = 0
    verbose: int = 0


@dataclass
class QuantizationConfig:
    """``float`` | ``ptq`` (``precision``: uniform string or per-layer map) | ``qat`` (QKeras bits).

    For QAT, ``bits`` sets every width; ``weight_bits`` / ``activation_bits`` set all weights /
    activations; ``B_I``, ``B_H``, ``B_O`` (first φ layer, hidden, output weights) and ``A_I``,
    ``A_H``, ``A_O`` (their activations) override per region. ``integer_bits`` are the weights'
    integer bits (excluding sign), ``activation_integer_bits`` the activations'.
    """

    mode: Literal["float", "ptq", "qat"] = "qat"
    precision: str | dict[str, Any] | None = None
    bits: int | None = None
    weight_bits: int | None = None
    activation_bits: int | None = None
    integer_bits: int = 0
    activation_integer_bits: int = 3
    B_I: int | None = None
    B_H: int | None = None
    B_O: int | None = None
    A_I: int | None = None
    A_H: int | None = None
    A_O: int | None = None
    input_precision: str = "ap_fixed<16,6,AP_RND_CONV,AP_SAT>"
    ptq_integer_bits: int = 6  # PTQ with ``bits``: ap_fixed<bits, min(bits, ptq_integer_bits)>


@dataclass
class PruningConfig:
    """Magnitude pruning with tfmot; ``sparsity`` 0 disables it."""

    sparsity: float = 0.0
    schedule: Literal["polynomial", "constant"] = "polynomial"
    end_fraction: float = 0.6  # reach the target sparsity after this fraction of the epochs
    frequency: int = 20


@dataclass
class HLSSettings:
    """hls4ml conversion target: backend, IO, strategy, reuse factor, part, clock."""

    backend: Literal["Vitis", "Vivado"] = "Vitis"
    io_type: Literal["io_parallel"] = "io_parallel"
    # distributed_arithmetic: da4ml adder graphs instead of multipliers (QAT models, reuse_factor 1)
    strategy: Literal["Latency", "Resource", "distributed_arithmetic"] = "Latency"
    reuse_factor: int = 1
    part: str = "xcvu13p-flga2577-2-e"
    clock_period: float = 5
    softmax_table_size: int = 1024
    expose_logits: bool = True
    bit_exact: bool = False
    synth: bool = False
    project_name: str = "myproject"
    # yosys: QAT points also go through da4ml RTL + yosys (minutes per distinct network, cached)
    resource_source: Literal["analytic", "yosys"] = "analytic"


@dataclass
class Config:
    """A resolved point (or study) configuration."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    quantization: QuantizationConfig = field(default_factory=QuantizationConfig)
    pruning: PruningConfig = field(default_factory=PruningConfig)
    hls: HLSSettings = field(default_factory=HLSSettings)
    grid: dict[str, Any] | list[dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def point_hash(self) -> str:
        """Stable hash of what determines a point's results (the grid itself excluded)."""
        payload = self.to_dict()
        payload.pop("grid", None)
        payload["train"].pop("verbose", None)
        if payload["hls"]["resource_source"] == "analytic":
            payload["hls"].pop("resource_source")  # added later: keeps earlier studies' hashes
        return stable_hash(payload)

    def train_hash(self) -> str:
        """Hash of what determines the trained model: PTQ and float points share one float model."""
        payload = self.to_dict()
        for key in ("grid", "hls"):
            payload.pop(key)
        payload["train"].pop("verbose", None)
        if self.quantization.mode != "qat":
            payload["quantization"] = {"mode": "float"}
        return stable_hash(payload)


def stable_hash(payload: Any) -> str:
    """16 hex digits of the SHA-256 of ``payload`` as canonical JSON."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_POSITIVE_INTS = {
    "n_constituents",
    "epochs",
    "batch_size",
    "reuse_factor",
    "softmax_table_size",
    "n_samples",
    "n_classes",
    "frequency",
    "bits",
    "weight_bits",
    "activation_bits",
    "B_I",
    "B_H",
    "B_O",
    "A_I",
    "A_H",
    "A_O",
    "patience",
    "lr_patience",
    "phi_width",
    "ptq_integer_bits",
    "n_jets",
    "gen_workers",
    "n_events",
}


def _check_value(path: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _check_value(path, value, arg)
            except ToolkitError as exc:
                errors.append(str(exc))
        raise ToolkitError(errors[0] if len(errors) == 1 else f"{path}: {value!r} is not valid ({'; '.join(errors)}).")
    if origin is Literal:
        if value not in args:
            raise ToolkitError(f"{path}: {value!r} is not one of {', '.join(map(repr, args))}.")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ToolkitError(f"{path}: expected a list, got {value!r}.")
        return [_check_value(f"{path}[{i}]", v, args[0]) for i, v in enumerate(value)] if args else value
    if origin is dict:
        if not isinstance(value, dict):
            raise ToolkitError(f"{path}: expected a mapping, got {value!r}.")
        return value
    if dataclasses.is_dataclass(annotation):
        return _from_dict(annotation, value, path)
    if annotation is bool:
        if not isinstance(value, bool):
            raise ToolkitError(f"{path}: expected true or false, got {value!r}.")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ToolkitError(f"{path}: expected a whole number, got {value!r}.")
        return value
    if annotation is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as text
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ToolkitError(f"{path}: expected a number, got {value!r}.")
        if not math.isfinite(value):
            raise ToolkitError(f"{path}: {value!r} is not a finite number; give a real value.")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ToolkitError(f"{path}: expected text, got {value!r}.")
        return value
    return value


def _from_dict(cls: type, raw: Any, path: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ToolkitError(f"{path}: expected a mapping of keys, got {raw!r}.")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in raw if k not in names]
    if unknown:
        where = f"{path}: unknown key" if path else "unknown top-level section"
        raise ToolkitError(f"{where} {unknown[0]!r}. Valid keys in {path or 'the config'}: {', '.join(names)}.")
    kwargs = {k: _check_value(f"{path}.{k}" if path else k, v, hints[k]) for k, v in raw.items()}
    return cls(**kwargs)


def _validate(cfg: Config) -> None:
    for name in ("data", "model", "train", "quantization", "pruning", "hls"):
        section = getattr(cfg, name)
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            if f.name in _POSITIVE_INTS and value is not None and value <= 0:
                raise ToolkitError(f"{name}.{f.name} must be positive, got {value}.")
    for name, widths in (("model.phi", cfg.model.phi), ("model.rho", cfg.model.rho)):
        if any(w <= 0 for w in widths):
            raise ToolkitError(f"{name}: layer widths must be positive, got {widths}.")
    garnet = cfg.model.kind in ("garnet", "garnet_stack")
    if garnet:
        m = cfg.model
        if len({len(m.aggregators), len(m.filters), len(m.propagate)}) != 1 or not m.aggregators:
            raise ToolkitError(
                "model.aggregators, model.filters and model.propagate need one entry per GarNet sublayer each, "
                f"got {m.aggregators}, {m.filters}, {m.propagate}."
            )
        if m.kind == "garnet" and len(m.aggregators) != 1:
            raise ToolkitError("model.kind garnet has one sublayer; use garnet_stack for several.")
        if any(w <= 0 for w in [*m.aggregators, *m.filters, *m.propagate, *m.dense]):
            raise ToolkitError("model.aggregators/filters/propagate/dense: widths must be positive.")
        if cfg.data.source != "calo":
            raise ToolkitError(f"model.kind {m.kind} takes calorimeter hits: set data.source: calo.")
    elif cfg.model.head == "both":
        raise ToolkitError("model.head both (classification + regression) is for GarNet models only.")
    if not cfg.model.phi:
        raise ToolkitError("model.phi: a DeepSets needs at least one φ layer, e.g. phi: [32, 32, 32].")
    if cfg.model.phi_width is not None:
        cfg.model.phi = [cfg.model.phi_width] * len(cfg.model.phi)
    if not 0.0 < cfg.data.test_fraction <= 1.0:
        raise ToolkitError(f"data.test_fraction must be in (0, 1], got {cfg.data.test_fraction}.")
    if not 0.0 <= cfg.data.val_fraction < 1.0:
        raise ToolkitError(f"data.val_fraction must be in [0, 1), got {cfg.data.val_fraction}.")
    if not 0.0 <= cfg.pruning.sparsity < 1.0:
        raise ToolkitError(f"pruning.sparsity must be in [0, 1), got {cfg.pruning.sparsity}.")
    if cfg.train.learning_rate <= 0:
        raise ToolkitError(f"train.learning_rate must be positive, got {cfg.train.learning_rate}.")
    if cfg.hls.clock_period <= 0:
        raise ToolkitError(f"hls.clock_period must be positive (ns), got {cfg.hls.clock_period}.")
    _validate_distributed_arithmetic(cfg)
    q = cfg.quantization
    if q.mode == "qat" and q.precision is not None:
        raise ToolkitError(
            "quantization.precision is for mode ptq/float; QAT takes bit widths (bits, weight_bits, activation_bits)."
        )
    if q.mode != "qat":
        widths = [q.weight_bits, q.activation_bits, q.B_I, q.B_H, q.B_O, q.A_I, q.A_H, q.A_O]
        if any(w is not None for w in widths):
            raise ToolkitError(
                f"quantization: per-tensor bit widths are for mode qat; for mode {q.mode} write "
                "precision: 'ap_fixed<W,I>' (or bits: W for ap_fixed<W, ptq_integer_bits>)."
            )
        if q.bits is not None and q.precision is not None:
            raise ToolkitError("quantization: give either bits or precision for PTQ, not both.")
    if isinstance(q.precision, str):
        parse_precision(q.precision, where="quantization.precision")
    elif isinstance(q.precision, dict):
        for layer, spec in q.precision.items():
            specs = spec.items() if isinstance(spec, dict) else [("", spec)]
            for kind, text in specs:
                if kind not in ("", "weight", "bias", "result", "accum"):
                    raise ToolkitError(
                        f"quantization.precision.{layer}: unknown key {kind!r}; use weight, bias, result, accum."
                    )
                parse_precision(text, where=f"quantization.precision.{layer}{'.' + kind if kind else ''}")
    parse_precision(q.input_precision, where="quantization.input_precision")
    if cfg.data.normalisation.kind in ("fixed", "auto") and cfg.data.normalisation.scale is not None:
        if any(s == 0 for s in cfg.data.normalisation.scale):
            raise ToolkitError("data.normalisation.scale: a scale of 0 would divide by zero.")
    from deepsets_trigger.models import FAMILIES  # light: no TensorFlow import

    if cfg.model.kind not in FAMILIES:
        raise ToolkitError(f"model.kind: {cfg.model.kind!r} is not one of {', '.join(map(repr, sorted(FAMILIES)))}.")


DA_RULES = {
    "reuse_factor": "hls.strategy distributed_arithmetic needs hls.reuse_factor 1 (da4ml builds one fully "
    "parallel adder graph per layer), got {value}; set hls.reuse_factor: 1 or use strategy Latency/Resource.",
    "mode": "hls.strategy distributed_arithmetic needs a quantization-aware model (quantization.mode qat): da4ml "
    "builds its adder graphs from quantized weights, got mode {value}; use mode qat or strategy Latency/Resource.",
    "kind": "hls.strategy distributed_arithmetic covers Dense layers; hls4ml 1.3.0 has no DA kernel for "
    "model.kind {value}; use strategy Latency/Resource.",
}


def _validate_distributed_arithmetic(cfg: Config) -> None:
    """The rules hls4ml 1.3.0 + da4ml put on ``hls.strategy: distributed_arithmetic``."""
    if cfg.hls.strategy != "distributed_arithmetic":
        return
    if cfg.hls.reuse_factor != 1:
        raise ToolkitError(DA_RULES["reuse_factor"].format(value=cfg.hls.reuse_factor))
    if cfg.quantization.mode != "qat":
        raise ToolkitError(DA_RULES["mode"].format(value=cfg.quantization.mode))
    if cfg.model.kind in ("garnet", "garnet_stack"):
        raise ToolkitError(DA_RULES["kind"].format(value=cfg.model.kind))


def config_from_dict(raw: dict[str, Any] | None) -> Config:
    """Validate a plain dict (e.g. parsed YAML) into a :class:`Config`."""
    cfg = _from_dict(Config, copy.deepcopy(raw or {}), "")
    _validate(cfg)
    return cfg


def _strict_loader() -> type:
    """``yaml.SafeLoader`` that refuses duplicate keys (YAML lets the last one win silently)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        pass

    def mapping(loader: Any, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (only one may be given)", key_node.start_mark
                )
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return StrictLoader


def parse_yaml(text: str, where: str, loader: type | None = None) -> Any:
    """Parse YAML text; errors become one line naming ``where``, the line and column, and the problem."""
    import yaml

    try:
        return yaml.load(text, Loader=loader or _strict_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ToolkitError(f"{where} is not valid YAML{at}: {problem}; fix the syntax there.") from None


def read_yaml_mapping(path: str | Path, what: str, loader: type | None = None) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; ``what`` names it in errors (e.g. ``--hls-config``)."""
    path = Path(path)
    if path.is_dir():
        raise ToolkitError(f"{what}: {str(path)!r} is a directory; pass the path of a YAML file.")
    if not path.is_file():
        raise ToolkitError(f"{what}: file {str(path)!r} does not exist; pass the path of a YAML file.")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolkitError(f"{what}: cannot read {str(path)!r} as text ({exc}); pass a YAML file.") from None
    raw = parse_yaml(text, f"{what} {str(path)!r}", loader)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ToolkitError(f"{what}: {str(path)!r} must hold a mapping of keys, not a {type(raw).__name__}.")
    return raw


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML study config."""
    return config_from_dict(read_yaml_mapping(path, "config file"))


def set_path(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``raw['a']['b'] = value`` for ``dotted='a.b'`` (used for grids and CLI overrides)."""
    keys = dotted.split(".")
    node = raw
    for depth, key in enumerate(keys[:-1]):
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            where = ".".join(keys[: depth + 1])
            raise ToolkitError(f"{dotted}: {where} is a value, not a section; set {where} itself.")
    node[keys[-1]] = value
