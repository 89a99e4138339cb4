"""The schema: YAML → validated, frozen dataclasses, defaults, and a stable hash.

One schema serves ``run``, ``study`` and the notebooks. Sections: ``data``, ``model``, ``train``,
``quantization``, ``pruning``, ``hls``, ``grid``. The ``model`` section is the dataclass of its
family (``model.kind``) and the ``data`` section that of its source (``data.source``), both looked
up in :mod:`deepsets_trigger.registry`, so a plugin brings its own keys. Unknown keys and bad
values fail here, at the edge, with the valid choices listed; each section checks its own
parameters (``validated``) and returns a new, resolved section; nothing is mutated afterwards.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from deepsets_trigger import registry
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.precision import parse_precision
from deepsets_trigger.schema import from_dict
from deepsets_trigger.yaml_io import parse_yaml, read_yaml_mapping

__all__ = [
    "Config",
    "DataConfig",
    "HLSSettings",
    "ModelConfig",
    "NormalisationConfig",
    "PruningConfig",
    "QuantizationConfig",
    "TrainConfig",
    "config_from_dict",
    "load_config",
    "parse_yaml",
    "read_yaml_mapping",
    "section_class",
    "set_path",
    "stable_hash",
]


class Section:
    """A config section: ``validated`` checks its own values (and cross-section rules) and resolves them."""

    def validated(self, cfg: Config) -> Section:
        return self


@dataclass(frozen=True)
class NormalisationConfig:
    """How inputs are scaled: ``fixed`` ranges, or ``standard``/``robust`` fitted on train only.

    ``auto`` (the default) is ``fixed`` when a ``scale`` is given and ``standard`` otherwise:
    unscaled physics inputs (pT in GeV) would saturate the firmware's input type.
    """

    kind: Literal["auto", "fixed", "standard", "robust", "none"] = "auto"
    scale: list[float] | None = None  # per feature, for kind: fixed (or auto)


@dataclass(frozen=True)
class DataConfig(Section):
    """Keys every data source shares: what is split how; sources subclass it with their own keys."""

    source: str = "toy"
    n_constituents: int = 8
    normalisation: NormalisationConfig = field(default_factory=NormalisationConfig)
    test_fraction: float = 0.2
    val_fraction: float = 0.1
    seed: int = 0
    cache_dir: str = "~/.cache/deepsets-trigger"  # generated files are kept here

    def validated(self, cfg: Config) -> DataConfig:
        if not 0.0 < self.test_fraction <= 1.0:
            raise ToolkitError(f"data.test_fraction must be in (0, 1], got {self.test_fraction}.")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ToolkitError(f"data.val_fraction must be in [0, 1), got {self.val_fraction}.")
        scale = self.normalisation.scale
        if self.normalisation.kind in ("fixed", "auto") and scale is not None and any(s == 0 for s in scale):
            raise ToolkitError("data.normalisation.scale: a scale of 0 would divide by zero.")
        return self


@dataclass(frozen=True)
class ModelConfig(Section):
    """Keys every model family shares; families subclass it with their architecture keys."""

    kind: str = "deepsets"
    head: Literal["classification", "regression", "both"] = "classification"  # both: two heads (GarNet)

    def validated(self, cfg: Config) -> ModelConfig:
        if self.head == "both":
            raise ToolkitError(f"model.head both (classification + regression) is not available for {self.kind}.")
        return self


@dataclass(frozen=True)
class TrainConfig(Section):
    """Adam with early stopping and learning-rate reduction; fixed seeds."""

    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 0.002
    patience: int = 6
    lr_patience: int = 3
    lr_factor: float = 0.5
    seed: int = 0
    verbose: int = 0

    def validated(self, cfg: Config) -> TrainConfig:
        if self.learning_rate <= 0:
            raise ToolkitError(f"train.learning_rate must be positive, got {self.learning_rate}.")
        return self


@dataclass(frozen=True)
class QuantizationConfig(Section):
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
    # PTQ with ``bits: W``: None → each layer's integer bits from the calibration ranges (weights,
    # biases and results separately); an int I → ap_fixed<W, min(W, I)> for every layer
    ptq_integer_bits: int | None = None

    def validated(self, cfg: Config) -> QuantizationConfig:
        if self.mode == "qat" and self.precision is not None:
            raise ToolkitError(
                "quantization.precision is for mode ptq/float; QAT takes bit widths (bits, weight_bits, "
                "activation_bits)."
            )
        if self.mode != "qat":
            widths = [self.weight_bits, self.activation_bits, self.B_I, self.B_H, self.B_O, self.A_I, self.A_H]
            if any(w is not None for w in [*widths, self.A_O]):
                raise ToolkitError(
                    f"quantization: per-tensor bit widths are for mode qat; for mode {self.mode} write "
                    "precision: 'ap_fixed<W,I>' (or bits: W, integer bits per layer from the data)."
                )
            if self.bits is not None and self.precision is not None:
                raise ToolkitError("quantization: give either bits or precision for PTQ, not both.")
        if isinstance(self.precision, str):
            parse_precision(self.precision, where="quantization.precision")
        elif isinstance(self.precision, dict):
            _check_precision_map(self.precision)
        parse_precision(self.input_precision, where="quantization.input_precision")
        return self


def _check_precision_map(precision: dict[str, Any]) -> None:
    for layer, spec in precision.items():
        specs = spec.items() if isinstance(spec, dict) else [("", spec)]
        for kind, text in specs:
            if kind not in ("", "weight", "bias", "result", "accum"):
                raise ToolkitError(
                    f"quantization.precision.{layer}: unknown key {kind!r}; use weight, bias, result, accum."
                )
            parse_precision(text, where=f"quantization.precision.{layer}{'.' + kind if kind else ''}")


@dataclass(frozen=True)
class PruningConfig(Section):
    """Magnitude pruning with tfmot; ``sparsity`` 0 disables it."""

    sparsity: float = 0.0
    schedule: Literal["polynomial", "constant"] = "polynomial"
    end_fraction: float = 0.6  # reach the target sparsity after this fraction of the epochs
    frequency: int = 20

    def validated(self, cfg: Config) -> PruningConfig:
        if not 0.0 <= self.sparsity < 1.0:
            raise ToolkitError(f"pruning.sparsity must be in [0, 1), got {self.sparsity}.")
        return self


DA_RULES = {
    "reuse_factor": "hls.strategy distributed_arithmetic needs hls.reuse_factor 1 (da4ml builds one fully "
    "parallel adder graph per layer), got {value}; set hls.reuse_factor: 1 or use strategy Latency/Resource.",
    "mode": "hls.strategy distributed_arithmetic needs a quantization-aware model (quantization.mode qat): da4ml "
    "builds its adder graphs from quantized weights, got mode {value}; use mode qat or strategy Latency/Resource.",
}


@dataclass(frozen=True)
class HLSSettings(Section):
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
    # auto: the C++ (compiled) checks the firmware twin, which then serves a study's other points;
    # twin: as auto, and a layer the twin cannot mirror is an error; cpp: the compiled C++ only
    emulator: Literal["auto", "twin", "cpp"] = "auto"

    def validated(self, cfg: Config) -> HLSSettings:
        if self.clock_period <= 0:
            raise ToolkitError(f"hls.clock_period must be positive (ns), got {self.clock_period}.")
        if self.strategy == "distributed_arithmetic":  # the rules hls4ml 1.3.0 + da4ml put on it
            if self.reuse_factor != 1:
                raise ToolkitError(DA_RULES["reuse_factor"].format(value=self.reuse_factor))
            if cfg.quantization.mode != "qat":
                raise ToolkitError(DA_RULES["mode"].format(value=cfg.quantization.mode))
        return self


SECTIONS = ("data", "model", "train", "quantization", "pruning", "hls")


@dataclass(frozen=True)
class Config:
    """A resolved point (or study) configuration; build it with :func:`config_from_dict`."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    quantization: QuantizationConfig = field(default_factory=QuantizationConfig)
    pruning: PruningConfig = field(default_factory=PruningConfig)
    hls: HLSSettings = field(default_factory=HLSSettings)
    grid: dict[str, Any] | list[dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **sections: Any) -> Config:
        """A copy with whole sections replaced (e.g. ``hls=dataclasses.replace(cfg.hls, ...)``)."""
        return dataclasses.replace(self, **sections)

    def point_hash(self) -> str:
        """Stable hash of what determines a point's results (the grid itself excluded)."""
        payload = self.to_dict()
        payload.pop("grid", None)
        payload["train"].pop("verbose", None)
        for key, default in (("resource_source", "analytic"), ("emulator", "auto")):
            if payload["hls"][key] == default:
                payload["hls"].pop(key)  # added later: keeps earlier studies' hashes
        _legacy_ptq_integer_bits(payload["quantization"])
        return stable_hash(payload)

    def train_hash(self) -> str:
        """Hash of what determines the trained model: PTQ and float points share one float model."""
        payload = self.to_dict()
        for key in ("grid", "hls"):
            payload.pop(key)
        payload["train"].pop("verbose", None)
        if self.quantization.mode != "qat":
            payload["quantization"] = {"mode": "float"}
        else:
            _legacy_ptq_integer_bits(payload["quantization"])
        return stable_hash(payload)


def _legacy_ptq_integer_bits(quantization: dict[str, Any]) -> None:
    """Where ``ptq_integer_bits`` changes nothing (QAT, an explicit PTQ precision) it is hashed as its
    former default 6: those points keep the hashes (and cached models) of earlier studies."""
    if quantization.get("ptq_integer_bits") is None and (quantization["mode"] == "qat" or quantization["bits"] is None):
        quantization["ptq_integer_bits"] = 6


def stable_hash(payload: Any) -> str:
    """16 hex digits of the SHA-256 of ``payload`` as canonical JSON."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def section_class(section: str, raw_section: Any) -> type:
    """The dataclass of a section: the family's for ``model``, the source's for ``data``."""
    raw_section = raw_section if isinstance(raw_section, dict) else {}
    if section == "model":
        kind = raw_section.get("kind", ModelConfig.kind)
        return registry.family(str(kind)).config
    if section == "data":
        return registry.source(str(raw_section.get("source", DataConfig.source))).config
    return typing.get_type_hints(Config)[section]


def config_from_dict(raw: dict[str, Any] | None) -> Config:
    """Validate a plain dict (e.g. parsed YAML) into a resolved :class:`Config`.

    Raises:
        ToolkitError: an unknown key or a bad value, named by its key path.
    """
    raw = copy.deepcopy(raw or {})
    if not isinstance(raw, dict):
        raise ToolkitError(f"a config must be a mapping of sections, got {type(raw).__name__}.")
    names = [*SECTIONS, "grid"]
    unknown = [k for k in raw if k not in names]
    if unknown:
        raise ToolkitError(f"unknown top-level section {unknown[0]!r}. Valid keys in the config: {', '.join(names)}.")
    sections = {name: from_dict(section_class(name, raw.get(name)), raw.get(name), name) for name in SECTIONS}
    grid = raw.get("grid") or {}
    cfg = Config(**sections, grid=grid)
    for name in SECTIONS:  # in order: later sections may rely on earlier ones being resolved
        cfg = cfg.replace(**{name: getattr(cfg, name).validated(cfg)})
    return cfg


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
