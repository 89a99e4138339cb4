"""Fixed-point types in the notation of the field: ``ap_fixed<W,I[,Q,O]>``.

One parser for every place a precision is written by a user (config, per-layer maps,
hls4ml YAML), so a typo fails once, at the edge, with the accepted forms listed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from deepsets_trigger.errors import ToolkitError

ROUNDING = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
SATURATION = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")
_FORMS = "ap_fixed<W,I>, ap_ufixed<W,I>, ap_fixed<W,I,AP_RND_CONV,AP_SAT>, fixed<W,I>, ap_int<W>, ap_uint<W>"
_RE = re.compile(r"^\s*(ap_)?(u?)(fixed|int)\s*<([^<>]*)>\s*$")


@dataclass(frozen=True)
class FixedType:
    """``ap_[u]fixed<width, integer, rounding, saturation>``; integers have ``integer == width``."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    saturation: str = "WRAP"

    @property
    def fractional(self) -> int:
        return self.width - self.integer

    @property
    def max_value(self) -> float:
        return 2.0 ** (self.integer - (1 if self.signed else 0)) - 2.0**-self.fractional

    @property
    def min_value(self) -> float:
        return -(2.0 ** (self.integer - 1)) if self.signed else 0.0

    def hls(self) -> str:
        """The string hls4ml's config accepts, e.g. ``fixed<8,3,RND_CONV,SAT>``."""
        base = f"{'' if self.signed else 'u'}fixed<{self.width},{self.integer}"
        if (self.rounding, self.saturation) != ("TRN", "WRAP"):
            base += f",{self.rounding},{self.saturation}"
        return base + ">"

    def ap(self) -> str:
        """The C++ spelling, e.g. ``ap_fixed<8,3,AP_RND_CONV,AP_SAT>``."""
        base = f"ap_{'' if self.signed else 'u'}fixed<{self.width},{self.integer}"
        if (self.rounding, self.saturation) != ("TRN", "WRAP"):
            base += f",AP_{self.rounding},AP_{self.saturation}"
        return base + ">"

    @property
    def lowest(self) -> float:
        """The smallest value a conversion can give: ``-max_value`` for AP_SAT_SYM, else :attr:`min_value`."""
        return -self.max_value if (self.saturation == "SAT_SYM" and self.signed) else self.min_value

    @property
    def lsb(self) -> float:
        """The value of one least significant bit, ``2**-fractional``."""
        return 2.0**-self.fractional

    def quantizer_args(self) -> tuple[int, int, int]:
        """``(k, i, f)`` of the ``quantizers`` package: keep-negative, integer bits without the sign, fractional."""
        return int(self.signed), self.integer - int(self.signed), self.fractional

    def cast(self, values: Any) -> Any:
        """What assigning real ``values`` to this ``ap_fixed`` gives, every rounding and overflow mode included.

        Exact for float64 inputs below ``2**53`` LSBs; see :meth:`quantize_steps`.
        """
        import numpy as np

        return self.quantize_steps(np.asarray(values, dtype=np.float64) * 2.0**self.fractional) * self.lsb

    def quantize_steps(self, scaled: Any, inplace: bool = False) -> Any:
        """Round and overflow ``scaled`` (values in LSBs, ``x * 2**fractional``); returns whole LSB counts.

        The rounding and overflow functions are the ``quantizers`` package's (tested against the
        ``ap_types`` headers): round, then — only if some value left the range — wrap or saturate
        (AP_SAT_ZERO, zero on overflow, is not in ``quantizers`` and is added here). Rounding before
        saturating equals ``quantizers``' clip-then-round since the limits are on the grid. With
        ``inplace`` (a float64 temporary of the caller) TRN and RND_CONV — ``quantizers``' ``floor``
        and half-to-even ``round`` — overwrite ``scaled`` instead of allocating.
        """
        import numpy as np
        from quantizers.fixed_point.fixed_point_ops_np import round_mode_registry_np, saturation_mode_registry_np

        k, i, f = self.quantizer_args()
        if inplace and self.rounding in ("TRN", "RND_CONV"):
            steps = (np.floor if self.rounding == "TRN" else np.rint)(scaled, out=scaled)
        else:
            steps = round_mode_registry_np[self.rounding](np.asarray(scaled, dtype=np.float64))
        low, high = self.lowest * 2.0**f, self.max_value * 2.0**f
        if steps.size and (steps.min() < low or steps.max() > high):
            steps = steps.astype(np.float64)  # float32 callers: wrap offsets may need more than 24 bits
            if self.saturation == "SAT_ZERO":
                steps = np.where((steps < low) | (steps > high), 0.0, steps)
            else:  # in LSB units the type has i + f integer bits and none fractional
                steps = saturation_mode_registry_np[self.saturation](steps, k, i + f, 0)
        return steps

    def with_modes(self, rounding: str, saturation: str) -> FixedType:
        return FixedType(self.width, self.integer, self.signed, rounding, saturation)

    def __str__(self) -> str:
        return self.ap()


def parse_precision(text: str, *, where: str = "precision") -> FixedType:
    """Parse ``ap_fixed<W,I>``-style text; raise :class:`ToolkitError` naming the accepted forms."""
    if not isinstance(text, str):
        raise ToolkitError(f"{where}: expected a string like 'ap_fixed<8,3>', got {text!r}. Accepted forms: {_FORMS}.")
    match = _RE.match(text)
    if not match:
        raise ToolkitError(f"{where}: cannot read {text!r} as a fixed-point type. Accepted forms: {_FORMS}.")
    _, unsigned, kind, args = match.groups()
    parts = [p.strip() for p in args.split(",") if p.strip()]
    try:
        width = int(parts[0])
        integer = width if kind == "int" else int(parts[1])
    except (IndexError, ValueError):
        raise ToolkitError(f"{where}: {text!r} needs whole numbers W and I, e.g. ap_fixed<8,3>.") from None
    if not 1 <= width <= 64:
        raise ToolkitError(f"{where}: width {width} in {text!r} must be between 1 and 64 bits.")
    if integer > width:
        raise ToolkitError(
            f"{where}: {text!r} has more integer bits ({integer}) than total bits ({width}); "
            f"I must be at most W, e.g. ap_fixed<{max(width, integer)},{min(width, integer)}>."
        )
    if integer < -width:
        raise ToolkitError(f"{where}: {text!r} has too few integer bits ({integer}) for width {width}.")
    modes = [p.upper().removeprefix("AP_") for p in parts[1 if kind == "int" else 2 :]]
    rounding, saturation = "TRN", "WRAP"
    for mode in modes[:2]:
        if mode in ROUNDING:
            rounding = mode
        elif mode in SATURATION:
            saturation = mode
        else:
            raise ToolkitError(
                f"{where}: unknown mode {mode!r} in {text!r}; rounding is one of "
                f"{', '.join('AP_' + r for r in ROUNDING)}, "
                f"saturation one of {', '.join('AP_' + s for s in SATURATION)}."
            )
    return FixedType(width, integer, not unsigned, rounding, saturation)


def from_hls4ml(precision: object) -> FixedType | None:
    """Read an hls4ml precision object (fixed or integer); ``None`` for anything else."""
    width = getattr(precision, "width", None)
    integer = getattr(precision, "integer", None)
    if width is None or integer is None:
        return None
    rnd = getattr(precision, "rounding_mode", None)
    sat = getattr(precision, "saturation_mode", None)
    return FixedType(
        int(width),
        int(integer),
        bool(getattr(precision, "signed", True)),
        rnd.name if rnd is not None and hasattr(rnd, "name") else "TRN",
        sat.name if sat is not None and hasattr(sat, "name") else "WRAP",
    )


def integer_bits_for(max_abs: float, signed: bool = True) -> int:
    """Integer bits (sign included when signed) that hold ``[-max_abs, max_abs]``."""
    needed = max(0, math.ceil(math.log2(max_abs + 1e-12))) if max_abs > 1 else 0
    if max_abs > 0 and 2.0**needed <= max_abs:
        needed += 1
    return needed + (1 if signed else 0)
