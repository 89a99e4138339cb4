"""Every layer must have an hls4ml converter: one clear error instead of hls4ml's bare exception.

hls4ml 1.3.0 refuses a layer class it has no Keras handler for with ``Exception('ERROR:
Unsupported layer type: X')`` from deep inside ``config_from_keras_model``. A custom layer (a model
family's, or a user's trusted one) converts once its hls4ml extension is registered, so the error
names the layer and that fix. The check runs after the families' extensions are registered.
"""

from __future__ import annotations

from typing import Any

from deepsets_trigger.errors import ToolkitError

SKIPPED = ("Dropout",)  # hls4ml drops these layers without a handler (keras_v2_to_hls.parse_keras_model)


def unconvertible_layers(model: Any) -> list[tuple[str, str]]:
    """``(layer name, class name as stored)`` of the layers hls4ml has no converter for, in model order."""
    import hls4ml
    from tensorflow import keras

    supported = set(hls4ml.converters.get_supported_keras_layers()) | set(SKIPPED)
    found = []
    for layer in model.layers:
        name = keras.saving.get_registered_name(type(layer))  # what the model config (hls4ml's input) stores
        if name not in supported:
            found.append((layer.name, name))
    return found


def check_registered(model: Any) -> None:
    """Raise one :class:`ToolkitError` naming the first layer hls4ml cannot convert, and the fix.

    Raises:
        ToolkitError: a layer class without an hls4ml converter.
    """
    missing = unconvertible_layers(model)
    if missing:
        layer, cls = missing[0]
        more = f" (and {len(missing) - 1} more layer(s))" if len(missing) > 1 else ""
        raise ToolkitError(
            f"layer {layer!r} of class {cls!r}{more} has no hls4ml converter (hls4ml would stop with "
            "'Unsupported layer type'); register its hls4ml extension: a register_hls4ml() function in the "
            "--trust-custom-layers module (README: 'Custom layers through hls4ml's Extension API')."
        )


__all__ = ["check_registered", "unconvertible_layers"]
