"""The firmware twin: a converted hls4ml model evaluated with NumPy, bit for bit, a batch at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deepsets_trigger.emulate import activation, dense, inputs, merge, normalization, pooling  # noqa: F401  (registration)
from deepsets_trigger.emulate.fixed import to_float32
from deepsets_trigger.emulate.registry import HANDLERS, BuildContext, Step, TwinUnsupported, type_problem

BACKENDS = ("Vivado", "Vitis")


@dataclass
class Twin:
    """What the ``io_parallel`` C++ of one converted model computes, for whole batches.

    Attributes:
        steps: one :class:`Step` per hls4ml layer, in the order of the generated top function.
        inputs: the model's input tensors (``hls_model.inputs``), in order.
        outputs: its output tensors (``hls_model.outputs``), in the order of
            ``hls_model.get_output_variables()``.
    """

    steps: list[Step]
    inputs: list[str]
    outputs: list[str]
    batch: int = 16384  # samples per pass (bounds the memory of the temporaries)

    @property
    def plans(self) -> dict[str, str]:
        """How each layer is computed (fast or exact path, and why that is exact)."""
        return {step.name: step.plan for step in self.steps}

    def _values(self, x: list[np.ndarray] | np.ndarray, keep: bool = True) -> dict[str, np.ndarray]:
        arrays = x if isinstance(x, list | tuple) else [x]
        if len(arrays) != len(self.inputs):
            raise ValueError(f"the model has {len(self.inputs)} inputs, got {len(arrays)} arrays")
        n = len(arrays[0])
        fed = {name: np.asarray(a, np.float32).reshape(n, -1) for name, a in zip(self.inputs, arrays, strict=True)}
        chunks = [
            self._run({k: v[start : start + self.batch] for k, v in fed.items()}, keep)
            for start in range(0, n, self.batch)
        ]
        if len(chunks) == 1:
            return chunks[0]
        return {key: np.concatenate([chunk[key] for chunk in chunks]) for key in chunks[0]}

    def _run(self, fed: dict[str, np.ndarray], keep: bool = True) -> dict[str, np.ndarray]:
        """All tensors (``keep``), or only the outputs: then a tensor is dropped after its last
        reader and a step that may overwrite its inputs (``run_owned``) does, saving memory traffic."""
        last_read = {t: i for i, step in enumerate(self.steps) for t in step.inputs}
        values: dict[str, np.ndarray] = {}
        for i, step in enumerate(self.steps):
            args = [fed[step.output]] if step.class_name == "Input" else [values[t] for t in step.inputs]
            if not step.float32_in:
                args = [a.astype(np.float64, copy=False) for a in args]
            dying = [t for t in step.inputs if last_read.get(t) == i and t not in self.outputs]
            owned = not keep and step.run_owned is not None and len(dying) == len(args)
            # an in-place reshape makes views: never overwrite memory a live tensor still shows
            live = [v for t, v in values.items() if t not in dying]
            owned = owned and not any(np.may_share_memory(a, v) for a in args for v in live)
            values[step.output] = step.run_owned(args) if owned else step.run(args)
            if not keep:
                for t in dying:
                    del values[t]
        return values

    def predict(self, x: list[np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """The outputs the compiled library returns: one ``(N, size)`` float64 array of float32 values each.

        Args:
            x: the input arrays (one per model input, samples first; a single array for one input).

        Returns:
            Outputs in ``hls_model.get_output_variables()`` order, like
            :func:`deepsets_trigger.convert.predict`.
        """
        values = self._values(x, keep=False)
        return [to_float32(values[name]) for name in self.outputs]

    def trace(self, x: list[np.ndarray] | np.ndarray, exact: bool = False) -> dict[str, np.ndarray]:
        """Every layer's output ``{hls layer name: (N, size)}``, like hls4ml's trace.

        Args:
            x: as for :meth:`predict`.
            exact: return the exact fixed-point values instead of the float32 the C++ trace stores.
        """
        values = self._values(x)
        return {step.name: values[step.output] if exact else to_float32(values[step.output]) for step in self.steps}


def _model_problems(hls_model: Any) -> list[str]:
    problems = []
    io_type = hls_model.config.get_config_value("IOType")
    if io_type != "io_parallel":
        problems.append(f"model: IOType {io_type} (the twin mirrors io_parallel)")
    backend = getattr(hls_model.config.backend, "name", str(hls_model.config.backend))
    if backend not in BACKENDS:
        problems.append(f"model: backend {backend} (the twin mirrors Vivado and Vitis)")
    return problems


def _layer_problem(layer: Any) -> str | None:
    handler = HANDLERS.get(layer.class_name)
    if handler is None:
        return "no twin handler for this layer class"
    problem = type_problem(layer.get_output_variable().type.precision, "result_t")
    return problem or handler.check(layer)


def unsupported_layers(hls_model: Any) -> list[str]:
    """Layers the twin cannot mirror, as ``"name (Class): reason"``; empty when it can (nothing is built).

    A cheap look at classes, attributes and result types; :func:`build_twin` may still refuse
    a layer for a reason only its weights show (e.g. products wider than float64 holds).
    """
    problems = _model_problems(hls_model)
    for layer in hls_model.get_layers():
        problem = _layer_problem(layer)
        if problem:
            problems.append(f"{layer.name} ({layer.class_name}): {problem}")
    return problems


def build_twin(hls_model: Any) -> Twin:
    """Read a converted hls4ml ``ModelGraph`` (io_parallel; Vivado/Vitis; Latency/Resource) into a :class:`Twin`.

    Weights are read as the written C++ holds them, types from the generated config.

    Raises:
        TwinUnsupported: a layer (named, with its class) that the twin cannot mirror bit for bit.
    """
    problems = _model_problems(hls_model)
    if problems:
        raise TwinUnsupported("model", "ModelGraph", problems[0].removeprefix("model: "))
    ctx = BuildContext()
    steps = []
    for layer in hls_model.get_layers():
        problem = _layer_problem(layer)
        if problem:
            raise TwinUnsupported(layer.name, layer.class_name, problem)
        step = HANDLERS[layer.class_name].build(layer, ctx)
        ctx.types[step.output] = step.result
        steps.append(step)
    return Twin(steps, list(hls_model.inputs), list(hls_model.outputs))
