"""The GarNet families (``model.kind: garnet | garnet_stack``) as the core sees them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deepsets_trigger.config import Config, ModelConfig
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.evaluate import compare_binary
from deepsets_trigger.registry import ModelFamily
from gnn_keras.conversion import GARNET_CLASSES, check_garnet
from gnn_keras.data import load_graph_dataset
from gnn_keras.models import build_from_config


@dataclass(frozen=True)
class GarNetConfig(ModelConfig):
    """GarNet (one sublayer) or GarNetStack (one entry per sublayer) and the Dense layers after it."""

    aggregators: list[int] = field(default_factory=lambda: [4])
    filters: list[int] = field(default_factory=lambda: [8])
    propagate: list[int] = field(default_factory=lambda: [8])
    dense: list[int] = field(default_factory=lambda: [16, 8])
    loss_weights: list[float] = field(default_factory=lambda: [1.0, 1.0])  # head both: classification, regression

    def validated(self, cfg: Config) -> GarNetConfig:
        if len({len(self.aggregators), len(self.filters), len(self.propagate)}) != 1 or not self.aggregators:
            raise ToolkitError(
                "model.aggregators, model.filters and model.propagate need one entry per GarNet sublayer each, "
                f"got {self.aggregators}, {self.filters}, {self.propagate}."
            )
        if self.kind == "garnet" and len(self.aggregators) != 1:
            raise ToolkitError("model.kind garnet has one sublayer; use garnet_stack for several.")
        if any(w <= 0 for w in [*self.aggregators, *self.filters, *self.propagate, *self.dense]):
            raise ToolkitError("model.aggregators/filters/propagate/dense: widths must be positive.")
        if cfg.data.source != "calo":
            raise ToolkitError(f"model.kind {self.kind} takes calorimeter hits: set data.source: calo.")
        if cfg.hls.strategy == "distributed_arithmetic":
            raise ToolkitError(
                f"hls.strategy distributed_arithmetic covers Dense layers; hls4ml 1.3.0 has no DA kernel for "
                f"model.kind {self.kind}; use strategy Latency/Resource."
            )
        return self


def build(cfg: Config, input_shapes: list[tuple[int, ...]], n_outputs: int) -> Any:

    return build_from_config(cfg, input_shapes[0], n_outputs)


def energy_resolution(pred: np.ndarray, energy: np.ndarray) -> float:
    """σ/μ of E_pred / E_true for predictions of E / 100 GeV."""
    ratio = np.ravel(pred) * 100.0 / energy
    return float(np.std(ratio) / np.mean(ratio))


def compare_heads(dataset: Any, names: list[str], keras_out: list[np.ndarray], fw: list[np.ndarray]) -> dict:
    """``classification`` (sigmoid) → accuracies, decision agreement, AUCs; ``regression`` (E / 100 GeV) →
    resolutions σ/μ of E_pred / E_true."""
    ys = dataset.y_test if isinstance(dataset.y_test, list) else [dataset.y_test]
    out: dict[str, Any] = {}
    for name, k, f, target in zip(names, keras_out, fw, ys, strict=True):
        if name == "classification":
            out.update(compare_binary(k, f, target))
        else:
            energy = dataset.extras["energy_test"]
            out.update(
                resolution_keras=energy_resolution(k, energy),
                resolution_firmware=energy_resolution(f, energy),
                max_abs_output_diff=float(np.max(np.abs(k - f))),
            )
    return out


def custom_objects() -> dict[str, Any]:
    from gnn_keras.layers import custom_objects as garnet_objects

    return garnet_objects()


FAMILIES = [
    ModelFamily(
        kind,
        GarNetConfig,
        build,
        load_data=load_graph_dataset,
        check=check_garnet,
        compare=compare_heads,
        custom_objects=custom_objects,
        opaque_layers=GARNET_CLASSES,
    )
    for kind in ("garnet", "garnet_stack")
]
