"""Checking the twin against hls4ml's compiled C++ on the same samples."""

from __future__ import annotations

from typing import Any

import numpy as np


def compare(twin_outputs: list[np.ndarray], cpp_outputs: list[np.ndarray]) -> dict[str, Any]:
    """``{samples, mismatched_samples, max_abs_diff}`` over every output (logits and probabilities).

    A sample mismatches when any value of any output differs in any bit; ``max_abs_diff == 0``
    (and so ``mismatched_samples == 0``) means the twin is verified on these samples.

    Raises:
        ValueError: the two sides have different numbers or shapes of outputs.
    """
    if len(twin_outputs) != len(cpp_outputs):
        raise ValueError(f"{len(twin_outputs)} twin outputs vs {len(cpp_outputs)} C++ outputs")
    n = len(cpp_outputs[0]) if cpp_outputs else 0
    mismatched = np.zeros(n, dtype=bool)
    max_abs = 0.0
    for twin, cpp in zip(twin_outputs, cpp_outputs, strict=True):
        twin, cpp = np.asarray(twin, dtype=np.float64), np.asarray(cpp, dtype=np.float64)
        if twin.shape != cpp.shape:
            raise ValueError(f"twin output of shape {twin.shape} vs C++ {cpp.shape}")
        differs = twin.reshape(n, -1) != cpp.reshape(n, -1)
        mismatched |= differs.any(axis=1)
        if differs.any():
            max_abs = max(max_abs, float(np.max(np.abs(twin - cpp))))
    return {"samples": int(n), "mismatched_samples": int(mismatched.sum()), "max_abs_diff": max_abs}


def check_against_cpp(twin: Any, conversion: Any, x: Any) -> dict[str, Any]:
    """Run the compiled C++ (:func:`deepsets_trigger.convert.predict`) and the twin on ``x``; :func:`compare` them."""
    from deepsets_trigger.convert import predict

    return compare(twin.predict(x), predict(conversion, x))
