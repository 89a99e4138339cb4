"""The model's inputs and in-place reshapes.

The ``<project>_float`` entry point that hls4ml's Python ``predict`` calls converts each
float32 input with ``nnet::convert_data``: ``input_t(float)`` — an ``ap_fixed(double)``
conversion with the input type's rounding and overflow. ``io_parallel`` reshapes and
flattens are in place (no code): the values pass unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepsets_trigger.emulate.fixed import from_double
from deepsets_trigger.emulate.registry import BuildContext, Handler, Step, register, result_type


def build_input(layer: Any, ctx: BuildContext) -> Step:
    t = result_type(layer)

    def run(xs: list[np.ndarray]) -> np.ndarray:
        return from_double(np.asarray(xs[0], dtype=np.float32).astype(np.float64), t)

    return Step(layer.name, layer.class_name, [], layer.outputs[0], t, run, f"float32 → {t.ap()}")


def build_reshape(layer: Any, ctx: BuildContext) -> Step:
    t = ctx.input_type(layer)
    return Step(layer.name, layer.class_name, list(layer.inputs), layer.outputs[0], t, lambda xs: xs[0], "in place")


register("Input")(Handler(lambda layer: None, build_input))
register("Reshape")(Handler(lambda layer: None, build_reshape))
