"""The demo study's PTQ points at 4 and 6 bits: integer bits per layer from the data, no layer zeroed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepsets_trigger.config import config_from_dict, read_yaml_mapping

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def _demo_point(bits: int, integer_bits: int | None) -> object:
    """A PTQ point of configs/demo.yaml (φ width 8) on toy data with a short training (only the data differ)."""
    raw = read_yaml_mapping(DEMO, "demo config")
    raw.pop("grid")
    raw["data"] = {"source": "toy", "n_samples": 3000, "n_constituents": raw["data"]["n_constituents"]}
    raw["train"] = {**raw["train"], "epochs": 8}
    raw["model"] = {**raw["model"], "phi_width": 8}
    raw["quantization"] = {**raw["quantization"], "mode": "ptq", "bits": bits, "ptq_integer_bits": integer_bits}
    return config_from_dict(raw)


def _zeroed_layers(cfg: object, tmp_path: Path) -> tuple[list[str], float, list[str]]:
    """(layers whose weights the C++ holds as all zero, the fraction of nonzero weights, the precision's
    notes) of the converted point."""
    from deepsets_trigger.convert import convert
    from deepsets_trigger.emulate.registry import written_values
    from deepsets_trigger.pipeline.inputs import Timer, model_and_data, point_precision
    from deepsets_trigger.precision import parse_precision

    model, data, _ = model_and_data(cfg, None, Timer(), False, tmp_path / "models", {})
    precision = point_precision(cfg, model, None, None, data)
    conversion = convert(
        model,
        cfg.hls,
        tmp_path / f"prj_{precision.default.width}",
        mode=precision.mode,
        default_precision=precision.default,
        layer_precisions=precision.layers,
        input_precision=parse_precision(cfg.quantization.input_precision),
        calib_x=data.calibration[0],
        log_path=tmp_path / "hls4ml.log",
    )
    zeroed, nonzero, total = [], 0, 0
    for layer in conversion.hls_model.get_layers():
        if getattr(layer, "weights", None) and layer.weights.get("weight") is not None:
            values, _ = written_values(layer, "weight")
            nonzero, total = nonzero + np.count_nonzero(values), total + values.size
            if not np.any(values):
                zeroed.append(layer.name)
    return zeroed, nonzero / total, list(precision.notes)


@pytest.mark.parametrize("bits", [4, 6])
def test_demo_ptq_points_have_no_layer_with_all_zero_weights(bits, tmp_path):
    zeroed, kept, notes = _zeroed_layers(_demo_point(bits, None), tmp_path)
    print(f"\n{notes[0]}\nnonzero weights: {kept:.1%}")
    assert zeroed == []
    assert len(notes) == 1 and f"PTQ ap_fixed<{bits},I>" in notes[0]
    assert "phi_0 result" in notes[0] and "weight 1" in notes[0]  # |w| < 1: one integer bit (the sign)
    _, old_kept, old_notes = _zeroed_layers(_demo_point(bits, 6), tmp_path)  # ap_fixed<W, min(W, 6)>: as before
    print(f"ptq_integer_bits 6: nonzero weights {old_kept:.1%}")
    # measured at 4 bits: 88 % nonzero with data-derived bits, 13 % with ap_fixed<4,4> (weights 0 or -1)
    assert old_notes == [] and kept > 0.8 and kept > 2 * old_kept
