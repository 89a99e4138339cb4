"""The model's inputs and in-place reshapes.

The ``<project>_float`` entry point that hls4ml's Python ``predict`` calls converts each
float32 input with ``nnet::convert_data``: ``input_t(float)`` — an ``ap_fixed(double)``
conversion with the input type's rounding and overflow. ``io_parallel`` reshapes and
flattens are in place (no code): the values pass unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepsets_trigger.emulate.fixed import SINGLE_EXACT_BITS, from_double
from deepsets_trigger.emulate.registry import BuildContext, Handler, Step, register, result_type


def build_input(layer: Any, ctx: BuildContext) -> Step:
    t = result_type(layer)

    single = t.width <= SINGLE_EXACT_BITS  # float32 holds every value of t: the next layers may use it

    def run(xs: list[np.ndarray]) -> np.ndarray:
        values = from_double(np.asarray(xs[0], dtype=np.float32).astype(np.float64), t)
        return values.astype(np.float32) if single else values

    return Step(layer.name, layer.class_name, [], layer.outputs[0], t, run, f"float32 → {t.ap()}", float32_in=True)


def build_reshape(layer: Any, ctx: BuildContext) -> Step:
    t = ctx.input_type(layer)
    step = Step(layer.name, layer.class_name, list(layer.inputs), layer.outputs[0], t, lambda xs: xs[0], "in place")
    step.float32_in = True
    return step


register("Input")(Handler(lambda layer: None, build_input))
register("Reshape")(Handler(lambda layer: None, build_reshape))
