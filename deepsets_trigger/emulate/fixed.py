"""ap_fixed arithmetic on NumPy arrays, as the C++ of hls4ml's ``io_parallel`` firmware does it.

Values are float64 arrays holding fixed-point numbers exactly: a number of ``ap_fixed<W,I>``
is ``k * 2**-(W-I)`` with ``|k| < 2**W``, which float64 holds exactly while ``W <= 53``
(:data:`MAX_EXACT_BITS`). Every layer checks, when it is built, that its types and its
intermediate results stay within that bound (see each layer's ``plan``), so no operation
here ever rounds in floating point except where the C++ itself rounds (float tables, the
final float32 output).

Casts go through :meth:`deepsets_trigger.precision.FixedType.cast` (the ``quantizers``
package); this module adds what the C++ does around them: ``ap_fixed(double)`` including
infinities, ``float(ap_fixed)``, bit slices used as table indices, and the ``int``
conversions of the sigmoid/legacy-softmax table lookups.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

import numpy as np

from deepsets_trigger.precision import FixedType

MAX_EXACT_BITS = 53  # float64 significand: integers up to 2**53 are exact
SINGLE_EXACT_BITS = 24  # float32 significand


def cast(values: np.ndarray, t: FixedType) -> np.ndarray:
    """``t x = values;`` for real (float64) ``values``: rounding then overflow in ``t``'s modes."""
    return t.cast(values)


def from_double(values: np.ndarray, t: FixedType) -> np.ndarray:
    """``ap_fixed_base(double d)``: like :func:`cast`, plus what it makes of ±inf.

    An infinite double has all its bits above the type's range: the overflow check sees
    them and saturating modes give the max/min value, SAT_ZERO zero; in WRAP mode every
    bit of the mantissa is shifted out and the result is 0. (``1/0`` happens in the
    softmax inverse table at index 0.)
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    out = cast(np.where(finite, values, 0.0), t)
    if finite.all():
        return out
    if t.saturation in ("SAT", "SAT_SYM"):
        special = np.where(values > 0, t.max_value, t.lowest)
    else:
        special = np.zeros_like(values)
    return np.where(finite, out, special)


def to_float32(values: np.ndarray) -> np.ndarray:
    """``float(x)`` (``ap_fixed::to_float``, round half to even), returned as float64."""
    return np.asarray(values, dtype=np.float64).astype(np.float32).astype(np.float64)


def raw_unsigned(values: np.ndarray, t: FixedType) -> np.ndarray:
    """The W bits of ``values`` (two's complement) read as an unsigned integer (float64, exact)."""
    scaled = np.asarray(values, dtype=np.float64) * 2.0**t.fractional
    return np.mod(scaled, 2.0**t.width)


def top_bits(values: np.ndarray, t: FixedType, n: int) -> np.ndarray:
    """``x(W-1, W-n)`` as an unsigned index (``softmax_idx_from_real_val``)."""
    return np.floor(raw_unsigned(values, t) / 2.0 ** (t.width - n)).astype(np.int64)


def from_top_bits(index: np.ndarray, t: FixedType, n: int) -> np.ndarray:
    """The value of ``t`` whose top ``n`` bits are ``index`` and the rest 0 (``softmax_real_val_from_idx``)."""
    raw = np.asarray(index, dtype=np.float64) * 2.0 ** (t.width - n)
    if t.signed:
        raw = np.where(raw >= 2.0 ** (t.width - 1), raw - 2.0**t.width, raw)
    return raw * 2.0**-t.fractional


def c_int(values: np.ndarray) -> np.ndarray:
    """``int i = x;`` for an ap_fixed ``x``: truncation toward zero (``to_int``, C semantics)."""
    return np.trunc(np.asarray(values, dtype=np.float64)).astype(np.int64)


@functools.lru_cache(maxsize=1)
def _libm_expf() -> ctypes._CFuncPtr:
    libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    fn = libm.expf
    fn.restype = ctypes.c_float
    fn.argtypes = [ctypes.c_float]
    return fn


def expf(values: np.ndarray) -> np.ndarray:
    """``std::exp(float)``: the C library's ``expf``, called per element (tables only, built once).

    NumPy's own float32 exp may differ from libm's in the last bit, which can move a table
    entry across a rounding boundary of its fixed-point type.
    """
    fn = _libm_expf()
    flat = np.asarray(values, dtype=np.float32).ravel()
    return np.array([fn(float(v)) for v in flat], dtype=np.float32).reshape(np.shape(values))


def exact_bits(t: FixedType) -> bool:
    """Whether float64 holds every value of ``t`` exactly."""
    return t.width <= MAX_EXACT_BITS


def holds(outer: FixedType, inner: FixedType, low: float | None = None) -> bool:
    """Whether every value of ``inner`` (from ``low`` up) is one of ``outer``: then the cast is the identity."""
    low = inner.min_value if low is None else max(low, inner.min_value)
    return outer.fractional >= inner.fractional and outer.lowest <= low and outer.max_value >= inner.max_value


def max_abs(t: FixedType) -> float:
    """The largest magnitude ``t`` can hold."""
    return max(abs(t.min_value), abs(t.max_value))


def fractional_bits_of(values: np.ndarray) -> int:
    """The fewest fractional bits (≥ 0) that represent every value exactly (values are finite binary fractions)."""
    scaled = np.asarray(values, dtype=np.float64).ravel()
    bits = 0
    while not np.all(np.floor(scaled) == scaled):
        scaled = scaled * 2.0
        bits += 1
    return bits
