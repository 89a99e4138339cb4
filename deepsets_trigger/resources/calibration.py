"""The constants of the analytic resource model that are fitted to measurements.

How each was fitted is the "Calibration" paragraph of :mod:`deepsets_trigger.resources.analytic`;
the residuals on the points they were fitted to are
:data:`deepsets_trigger.resources.published.RESIDUALS`. A module of its own so the formula
modules and :mod:`deepsets_trigger.resources.da` share one table without importing the model.
"""

from __future__ import annotations

CALIBRATION: dict[str, float] = {
    "adds_per_cycle": 4.0,  # adder-tree levels chained in a 5 ns period (fitted: latency)
    "dsp_cycles": 3.0,  # a DSP48 product, AREG/MREG/PREG registered (fitted: latency)
    "layer_cycles": 0.0,  # extra registered output per weight layer (fitted: latency)
    "activation_cycles": 0.0,  # ReLU / quantizer casts chain into the producer's last stage
    "softmax_cycles": 3.0,  # exp ROM + inverse ROM reads and the final product (fitted: latency)
    "dsp_weight_bits": 9.0,  # hls4ml: "Vivado doesn't use DSP when precision < 9"
    "dsp_data_bits": 13.0,  # calibrated: ρ (16-bit data) on DSPs, φ (12-bit data) not
    "dsp_digits": 3.0,  # calibrated: constants with ≥ 3 CSD digits (≥ 2 fabric adders) go to DSPs
    "lut_scale": 1.0,  # LUTs per modelled adder bit (LUT6 + CARRY: one per bit)
    "fabric_term_lut": 0.55,  # calibrated: constant-multiplier partial products pack ~2 per LUT
    "general_mult_lut": 0.6,  # LUTs per bit-product of a shared general LUT multiplier
    "ff_scale": 1.0,  # flip-flops per registered live bit
}

__all__ = ["CALIBRATION"]
