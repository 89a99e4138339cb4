"""Training: Adam, early stopping, learning-rate reduction, fixed seeds, optional pruning."""

from __future__ import annotations

import math
import sys
from typing import Any

from deepsets_trigger.data.arrays import n_samples
from deepsets_trigger.prune import apply_pruning, pruning_end_epoch, strip_pruning


class TrainingFailed(RuntimeError):
    """The training diverged (NaN/inf loss): the point fails with this reason; nothing is converted."""

    def __init__(self, message: str, history: dict[str, list[float]]) -> None:
        super().__init__(message)
        self.history = history


def set_seeds(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's kernels deterministic.

    Without op determinism, multi-threaded CPU kernels give a different model in every process
    for the same seed, and a config hash would not name one model.
    """
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _epoch_bar(epochs: int) -> Any:
    from tensorflow import keras
    from tqdm.auto import tqdm

    class EpochBar(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            self.bar = tqdm(total=epochs, desc="train", unit="epoch", file=sys.stderr, leave=False)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = logs or {}
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items() if k in ("loss", "val_loss", "val_accuracy")})
            self.bar.update(1)

        def on_train_end(self, logs: Any = None) -> None:
            self.bar.close()

    return EpochBar()


def train_model(
    model: Any,
    dataset: Any,
    train_cfg: Any,
    pruning_cfg: Any,
    progress: bool = False,
    loss_weights: list[float] | None = None,
) -> tuple[Any, dict[str, list[float]]]:
    """Fit ``model`` on ``dataset``; return the trained (pruning-stripped) model and its history.

    Datasets with several inputs (lists) and heads (``dataset.losses``) train as Keras multi-output models.
    """
    from tensorflow import keras

    set_seeds(train_cfg.seed)
    classification = dataset.task == "classification"
    has_val = n_samples(dataset.x_val) > 0
    steps = max(1, -(-n_samples(dataset.x_train) // train_cfg.batch_size))
    pruning = pruning_cfg.sparsity > 0
    if pruning:
        model = apply_pruning(model, pruning_cfg, steps, train_cfg.epochs)
    losses = list(dataset.losses)
    model.compile(
        optimizer=keras.optimizers.Adam(train_cfg.learning_rate),
        loss=losses or ("categorical_crossentropy" if classification else "mse"),
        loss_weights=loss_weights if losses and len(losses) > 1 else None,
        metrics=["accuracy"] if classification and not losses else [],
    )
    history = model.fit(
        dataset.x_train,
        dataset.y_train,
        validation_data=(dataset.x_val, dataset.y_val) if has_val else None,
        epochs=train_cfg.epochs,
        batch_size=train_cfg.batch_size,
        callbacks=_callbacks(train_cfg, pruning_cfg, "val_loss" if has_val else "loss", progress),
        verbose=train_cfg.verbose,
        shuffle=True,
    )
    record = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    _check_converged(model, record, train_cfg)
    if pruning:
        model = strip_pruning(model)
    return model, record


def _callbacks(train_cfg: Any, pruning_cfg: Any, monitor: str, progress: bool) -> list[Any]:
    """NaN stop, early stopping (after pruning reached its target), LR reduction, pruning steps, a bar."""
    from tensorflow import keras

    callbacks: list[Any] = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.EarlyStopping(
            monitor=monitor,
            patience=train_cfg.patience,
            restore_best_weights=True,
            start_from_epoch=pruning_end_epoch(pruning_cfg, train_cfg.epochs),
        ),
        keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=train_cfg.lr_factor, patience=train_cfg.lr_patience),
    ]
    if pruning_cfg.sparsity > 0:
        import tensorflow_model_optimization as tfmot

        callbacks.append(tfmot.sparsity.keras.UpdatePruningStep())
    if progress:
        callbacks.append(_epoch_bar(train_cfg.epochs))
    return callbacks


def _check_converged(model: Any, record: dict[str, list[float]], train_cfg: Any) -> None:
    losses = record.get("loss", [])
    if any(not math.isfinite(v) for v in losses) or not _weights_finite(model):
        epoch = next((i for i, v in enumerate(losses) if not math.isfinite(v)), len(losses) - 1)
        raise TrainingFailed(
            f"training diverged: the loss became NaN or infinite in epoch {epoch + 1}; lower train.learning_rate "
            f"(now {train_cfg.learning_rate:g}) or check the inputs' scale",
            record,
        )


def _weights_finite(model: Any) -> bool:
    import numpy as np

    return all(np.isfinite(w).all() for w in model.get_weights())
