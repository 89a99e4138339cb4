"""Model families: ``model.kind`` → builder and the conversion rules it declares.

The pipeline, CLI and study code look families up here and never branch on a kind.
Importing this module is cheap: builders import TensorFlow when called.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelFamily:
    """A buildable family: ``builder(config, input_shape, n_outputs) -> keras.Model``.

    ``check_conversion(keras_model, hls_settings)`` raises a ToolkitError for what the
    family cannot convert faithfully (GarNet's rules); ``None`` when anything goes.
    """

    name: str
    builder: str  # "module:function", imported lazily
    check_conversion: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    inputs: str = "sets"  # sets: one (C, F) array; graph: [hits (V, F), hit count] from calorimeter clusters

    def build(self, config: Any, input_shape: tuple[int, ...], n_outputs: int) -> Any:
        return _load(self.builder)(config, input_shape, n_outputs)

    def check(self, keras_model: Any, hls: Any) -> None:
        if self.check_conversion:
            _load(self.check_conversion)(keras_model, hls)


def _load(ref: str) -> Callable[..., Any]:
    module, func = ref.split(":")
    return getattr(importlib.import_module(module), func)


FAMILIES: dict[str, ModelFamily] = {}


def register(family: ModelFamily) -> None:
    """Make ``family`` available as ``model.kind: <family.name>``."""
    FAMILIES[family.name] = family


register(ModelFamily("deepsets", "deepsets_trigger.models.deepsets:build_deepsets"))
for _kind in ("garnet", "garnet_stack"):
    register(
        ModelFamily(
            _kind,
            "gnn_keras.models:build_from_config",
            "gnn_keras.conversion:check_garnet",
            inputs="graph",
        )
    )
