"""A plain QKeras MLP (e.g. the 16-32-5 net of the resource benchmarks), with the DeepSets' conventions.

``input_quant`` → ``dense_i`` → ``dense_i_relu`` → … → ``logits`` → ``softmax``; weights and
biases ``quantized_bits(bits, 0)``, activations ``quantized_relu(bits, relu_integer)``.
"""

from __future__ import annotations

from typing import Any


def qkeras_mlp(
    widths: tuple[int, ...] = (16, 32, 5),
    bits: int = 8,
    input_integer: int = 2,
    relu_integer: int = 3,
    seed: int = 1,
) -> Any:
    """Build (untrained, seeded) an MLP ``widths[0] → … → widths[-1]`` with ``bits``-bit quantizers."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    tf.random.set_seed(seed)
    inputs = keras.Input((widths[0],), name="features")
    h = QActivation(quantized_bits(bits, input_integer, alpha=1), name="input_quant")(inputs)
    for i, width in enumerate(widths[1:-1]):
        q = quantized_bits(bits, 0, alpha=1)
        h = QDense(width, kernel_quantizer=q, bias_quantizer=q, name=f"dense_{i}")(h)
        h = QActivation(quantized_relu(bits, relu_integer), name=f"dense_{i}_relu")(h)
    q = quantized_bits(bits, 0, alpha=1)
    h = QDense(widths[-1], kernel_quantizer=q, bias_quantizer=q, name="logits")(h)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="softmax")(h), name="mlp")
