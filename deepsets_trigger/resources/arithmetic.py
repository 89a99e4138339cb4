"""The arithmetic the analytic model prices: constant products and the adder trees that sum them.

A non-zero constant product is a shift (one CSD digit), a DSP-slice product or a LUT
constant multiplier (the "Multipliers" rules of :mod:`deepsets_trigger.resources.analytic`, whose
docstring holds every formula and its source); an adder tree of ``n`` terms is ``⌈log2 n⌉`` levels,
``adds_per_cycle`` of them chained per 5 ns clock period (its "Cycles" rules).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deepsets_trigger.resources.calibration import CALIBRATION


@dataclass(frozen=True)
class PartFamily:
    """The DSP slice of an FPGA family: name and the operand widths one slice multiplies."""

    name: str
    dsp: str
    a_bits: int
    b_bits: int

    def fits(self, a: int, b: int) -> bool:
        """Whether an ``a``-bit × ``b``-bit product fits one slice (either operand on either port)."""
        return (a <= self.a_bits and b <= self.b_bits) or (a <= self.b_bits and b <= self.a_bits)


def part_family(part: str) -> PartFamily:
    """DSP slice of ``part``: 7-series DSP48E1 (25×18), UltraScale(+) DSP48E2 (27×18), Versal DSP58 (27×24).

    Sources: UG479 (7-series DSP48E1), UG579 (UltraScale DSP48E2), AM004 (Versal DSP58).
    """
    p = part.lower()
    if p.startswith(("xcvc", "xcvm", "xcvp", "xcve", "xcvh")):
        return PartFamily("versal", "DSP58", 27, 24)
    if p.startswith(("xcvu", "xcku", "xczu", "xcau", "xck26")):
        return PartFamily("ultrascale", "DSP48E2", 27, 18)
    return PartFamily("7series", "DSP48E1", 25, 18)


def csd_digits(value: int) -> int:
    """Non-zero digits of ``value`` in canonical signed digit form (non-adjacent form)."""
    n, digits = abs(int(value)), 0
    while n:
        if n & 1:
            digits += 1
            n -= 1 if n & 2 == 0 else -1
        n >>= 1
    return digits


def tree_levels(terms: int) -> int:
    """Levels of an adder tree summing ``terms`` terms: ``⌈log2 terms⌉`` (0 for one term)."""
    return math.ceil(math.log2(max(terms, 1))) if terms > 1 else 0


def tree_cycles(levels: float, clock_period: float) -> int:
    """Clock cycles of ``levels`` chained adder levels: ``adds_per_cycle`` fit in 5 ns, scaled with the period."""
    per_cycle = CALIBRATION["adds_per_cycle"] * clock_period / 5.0
    return math.ceil(levels / max(per_cycle, 1e-9))


@dataclass
class Products:
    """How the non-zero products of one kernel position are implemented."""

    shifts: int = 0
    dsp: int = 0  # products on DSP slices (two slices for an oversize one count twice)
    fabric: int = 0
    terms: int = 0  # adders joining shift and DSP products into the output sums
    fabric_terms: int = 0  # adders joining the d CSD partial products of each fabric product
    column_terms: int = 1  # the most terms one output sums (bias included): the tree depth


def classify(weights: np.ndarray, fractional: int, data_bits: int, family: PartFamily) -> Products:
    """Split the non-zero constant products of ``weights`` (``n_in × n_out``) into shifts, DSP and fabric."""
    out = Products()
    mantissas = np.rint(np.asarray(weights, dtype=np.float64) * 2.0**fractional).astype(np.int64)
    mantissas = mantissas.reshape(-1, mantissas.shape[-1])
    for column in mantissas.T:
        column_terms = 1  # the bias
        for m in column[column != 0]:
            digits = csd_digits(int(m))
            bits = int(abs(m)).bit_length() + 1  # significant bits of the signed constant
            wide = bits >= CALIBRATION["dsp_weight_bits"] and data_bits >= 5
            costly = data_bits >= CALIBRATION["dsp_data_bits"] and digits >= CALIBRATION["dsp_digits"]
            if digits <= 1:
                out.shifts += 1
                out.terms += 1
                column_terms += 1
            elif wide or costly:
                out.dsp += 1 if family.fits(data_bits, bits) else 2
                out.terms += 1
                column_terms += 1
            else:
                out.fabric += 1
                out.fabric_terms += digits
                column_terms += digits
        out.column_terms = max(out.column_terms, column_terms)
    return out


__all__ = ["PartFamily", "Products", "classify", "csd_digits", "part_family", "tree_cycles", "tree_levels"]
