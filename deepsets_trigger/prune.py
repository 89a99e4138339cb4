"""Magnitude pruning with tensorflow-model-optimization, on float and QKeras models.

Only the Dense-like layers (``Dense``, ``QDense`` and their subclasses) are wrapped; the
wrappers are stripped before conversion, and the sparsity hls4ml actually sees is
measured from the converted weights (:func:`deepsets_trigger.convert.measured_sparsity`).
"""

from __future__ import annotations

from typing import Any


def pruning_end_epoch(cfg: Any, epochs: int) -> int:
    """The epoch by which the schedule reaches its target sparsity (early stopping waits for it)."""
    return 0 if cfg.sparsity <= 0 else max(1, int(round(cfg.end_fraction * epochs)))


def apply_pruning(model: Any, cfg: Any, steps_per_epoch: int, epochs: int) -> Any:
    """Wrap every Dense-like layer of ``model`` with ``prune_low_magnitude``."""
    import tensorflow_model_optimization as tfmot
    from tensorflow import keras

    sparsity = tfmot.sparsity.keras
    end_step = max(1, pruning_end_epoch(cfg, epochs) * steps_per_epoch)
    if cfg.schedule == "polynomial":
        schedule = sparsity.PolynomialDecay(0.0, cfg.sparsity, begin_step=0, end_step=end_step, frequency=cfg.frequency)
    else:
        schedule = sparsity.ConstantSparsity(cfg.sparsity, begin_step=0, frequency=cfg.frequency)

    def wrap(layer: Any) -> Any:
        if isinstance(layer, keras.layers.Dense):
            return sparsity.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer.__class__.from_config(layer.get_config())

    return keras.models.clone_model(model, clone_function=wrap)


def strip_pruning(model: Any) -> Any:
    """Remove the pruning wrappers, keeping the zeroed weights."""
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras.strip_pruning(model)
