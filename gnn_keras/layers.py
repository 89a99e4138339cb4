"""GarNet layers that hls4ml converts: ``hls4ml.contrib.garnet`` with two of its bugs worked around.

The classes keep hls4ml's names (``GarNet``, ``GarNetStack``) because hls4ml's Keras handler is
chosen by class name. Fixed here, without touching site-packages:

- ``GarNetStack(quantize_transforms=False)`` tests ``is not None`` and so builds quantized
  transforms from ``total_bits=None``: a ``TypeError`` while formatting the quantizer string;
- ``get_config()`` writes ``n_sublayers``, which ``__init__`` does not accept, so a saved
  GarNetStack (e.g. the paper's model JSON) cannot be loaded again;
- a model rebuilt from its config passes list shapes to ``build``, which concatenates them with
  tuples;
- ``get_config()`` omits ``total_bits`` / ``int_bits``, so a quantized GarNet cannot be rebuilt
  (or saved and loaded) at all.
"""

from __future__ import annotations

from typing import Any

from hls4ml.contrib import garnet as _contrib

__all__ = ["GarNet", "GarNetStack", "custom_objects"]


def _tuples(shape: Any) -> Any:
    if isinstance(shape, (list, tuple)) and shape and not isinstance(shape[0], (int, type(None))):
        return tuple(tuple(s) for s in shape)
    return tuple(shape)


class _Fixes:
    """``quantize_output=False``: quantized transforms, but no per-vertex output quantizer.

    The HLS GarNet never materialises quantized per-vertex outputs (it collapses first), so a
    faithful QAT model quantizes after the collapse instead, with a separate ``QActivation``
    that hls4ml converts exactly (see :mod:`gnn_keras.conversion`).
    """

    def __init__(self, *args: Any, quantize_output: bool = True, **kwargs: Any) -> None:
        self._quantize_output = quantize_output
        super().__init__(*args, **kwargs)

    def _setup_transforms(self, n_aggregators: Any, n_filters: Any, n_propagate: Any) -> None:
        self._parent_setup(n_aggregators, n_filters, n_propagate)
        if self._quantize_output or not self._quantize_transforms:
            return
        from tensorflow import keras

        if hasattr(self, "_transform_layers"):
            self._transform_layers = [
                (a, b, c, keras.layers.Activation("linear")) for a, b, c, _ in self._transform_layers
            ]
            self._sublayers = sum((list(layers) for layers in self._transform_layers), [])
        else:
            self._output_activation_transform = keras.layers.Activation("linear")
            self._sublayers[-1] = self._output_activation_transform

    def _parent_setup(self, n_aggregators: Any, n_filters: Any, n_propagate: Any) -> None:
        super()._setup_transforms(n_aggregators, n_filters, n_propagate)

    def build(self, input_shape: Any) -> None:
        super().build(_tuples(input_shape))

    def get_config(self) -> dict[str, Any]:
        extra = {"total_bits": self._total_bits, "int_bits": self._int_bits, "quantize_output": self._quantize_output}
        return {**super().get_config(), **extra}


class GarNet(_Fixes, _contrib.GarNet):
    """hls4ml's GarNet (distance-weighted graph layer, arXiv 2008.03601)."""


class GarNetStack(_Fixes, _contrib.GarNetStack):
    """hls4ml's GarNetStack: ``n_aggregators``, ``n_filters``, ``n_propagate`` are per-sublayer lists."""

    def __init__(self, *args: Any, n_sublayers: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

    def _parent_setup(self, n_aggregators: Any, n_filters: Any, n_propagate: Any) -> None:
        quantize = self._quantize_transforms
        self._quantize_transforms = quantize or None  # the parent tests `is not None`
        try:
            _contrib.GarNetStack._setup_transforms(self, n_aggregators, n_filters, n_propagate)
        finally:
            self._quantize_transforms = quantize


def custom_objects() -> dict[str, Any]:
    return {"GarNet": GarNet, "GarNetStack": GarNetStack}
