"""Concatenate (``nnet_merge.h: concatenate1d/2d/3d``).

The C++ copies each input element into the result (``res[...] = data[...]``: a cast to res_t)
along the Keras axis of its config (``axis == rank or -1``: the last axis, row by row; smaller
axes: the blocks one after the other).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepsets_trigger.emulate.fixed import cast, holds
from deepsets_trigger.emulate.registry import BuildContext, Handler, Step, config_value, register, result_type


def check(layer: Any) -> str | None:
    if len(layer.inputs) != 2:
        return f"{len(layer.inputs)} inputs (hls4ml concatenates two)"
    if config_value(layer, r"static const int axis = (-?\d+);") is None:
        return "no axis in the generated config"
    return None


def build(layer: Any, ctx: BuildContext) -> Step:
    shapes = [tuple(int(d) for d in layer.get_input_variable(name).shape) for name in layer.inputs]
    rank = len(shapes[0])
    axis = int(config_value(layer, r"static const int axis = (-?\d+);") or -1)
    axis = axis if axis > 0 else rank + 1 + axis  # the numpy axis with the batch first, as Keras counts
    res_t = result_type(layer)
    identity = all(holds(res_t, ctx.input_type(layer, i)) for i in range(2))

    def run(xs: list[np.ndarray]) -> np.ndarray:
        n = len(xs[0])
        parts = [x.reshape((n, *shape)) for x, shape in zip(xs, shapes, strict=True)]
        joined = np.concatenate(parts, axis=axis).reshape(n, -1)
        return joined if identity else cast(joined, res_t)

    types = " + ".join(ctx.input_type(layer, i).ap() for i in range(2))
    plan = f"concatenate {shapes[0]} and {shapes[1]} on axis {axis}: {types} → {res_t.ap()}"
    return Step(layer.name, layer.class_name, list(layer.inputs), layer.outputs[0], res_t, run, plan)


register("Concatenate")(Handler(check, build))
