"""A model family defined by the test suite alone: a flattened-set MLP.

It proves the plugin interface: registered from here (``register``, or
``DEEPSETS_TRIGGER_PLUGINS=tests.plugin_family`` for study workers), it runs through ``run``,
``study`` and ``diagnose`` without a line of the core naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deepsets_trigger import registry
from deepsets_trigger.config import Config, ModelConfig
from deepsets_trigger.errors import ToolkitError


@dataclass(frozen=True)
class FlatConfig(ModelConfig):
    hidden: list[int] = field(default_factory=lambda: [8])

    def validated(self, cfg: Config) -> FlatConfig:
        super().validated(cfg)
        if not self.hidden or any(w <= 0 for w in self.hidden):
            raise ToolkitError(f"model.hidden: give positive widths, got {self.hidden}.")
        if cfg.quantization.mode == "qat":
            raise ToolkitError("model.kind flat_mlp is a float model: use quantization.mode ptq or float.")
        return self


def build(cfg: Config, input_shapes: list[tuple[int, ...]], n_outputs: int) -> Any:
    from tensorflow import keras

    inputs = keras.Input(input_shapes[0], name="sets")
    h = keras.layers.Flatten(name="flat")(inputs)
    for i, width in enumerate(cfg.model.hidden):
        h = keras.layers.Dense(width, activation="relu", name=f"hidden_{i}")(h)
    logits = keras.layers.Dense(n_outputs, name="logits")(h)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="softmax")(logits), name="flat_mlp")


def describe(cfg: Config) -> dict[str, Any]:
    return {"width": cfg.model.hidden[0]}


FAMILY = registry.ModelFamily("flat_mlp", FlatConfig, build, describe=describe)


def register() -> None:
    registry.register_family(FAMILY)
