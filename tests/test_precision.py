import pytest

from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.precision import FixedType, integer_bits_for, parse_precision


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ap_fixed<8,3>", FixedType(8, 3)),
        ("ap_ufixed<8,0,AP_RND_CONV,AP_SAT>", FixedType(8, 0, False, "RND_CONV", "SAT")),
        ("fixed<16, 6, RND, SAT>", FixedType(16, 6, True, "RND", "SAT")),
        ("fixed<25,9,TRN,WRAP,0>", FixedType(25, 9)),
        ("ap_uint<10>", FixedType(10, 10, False)),
        ("ufixed<8,3,RND_CONV,SAT,0>", FixedType(8, 3, False, "RND_CONV", "SAT")),
    ],
)
def test_parse_accepts_the_fields_spellings(text, expected):
    assert parse_precision(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("ap_fixed<4,8>", "more integer bits (8) than total bits (4)"),
        ("fixed16", "cannot read 'fixed16'"),
        ("ap_fixed<8>", "needs whole numbers W and I"),
        ("ap_fixed<8,3,AP_ROUND>", "unknown mode 'ROUND'"),
        ("ap_fixed<0,0>", "between 1 and 64"),
    ],
)
def test_parse_rejects_with_the_accepted_forms(text, fragment):
    with pytest.raises(ToolkitError, match="") as info:
        parse_precision(text, where="quantization.precision")
    assert fragment in str(info.value)
    assert "quantization.precision" in str(info.value)


def test_round_trip_through_hls4ml_spelling():
    t = FixedType(15, 5, True, "RND_CONV", "SAT")
    assert parse_precision(t.hls()) == t
    assert parse_precision(t.ap()) == t
    assert t.ap() == "ap_fixed<15,5,AP_RND_CONV,AP_SAT>"


def test_ranges():
    assert FixedType(8, 3).max_value == 4 - 2**-5
    assert FixedType(8, 3).min_value == -4
    assert FixedType(8, 3, signed=False).max_value == 8 - 2**-5


@pytest.mark.parametrize("max_abs, bits", [(0.5, 1), (1.0, 2), (3.9, 3), (4.0, 4), (8.42 * 2, 6), (22.3, 6)])
def test_integer_bits_hold_the_range(max_abs, bits):
    assert integer_bits_for(max_abs) == bits
    assert FixedType(bits + 8, bits).max_value >= max_abs or max_abs == 2 ** (bits - 1)


def test_ptq_bits_take_integer_bits_per_layer_from_the_data():
    from deepsets_trigger.config import config_from_dict
    from deepsets_trigger.quantize import calibrated, firmware_precision

    q = config_from_dict({"quantization": {"mode": "ptq", "bits": 6}}).quantization
    precision = firmware_precision(q)
    assert q.ptq_integer_bits is None and precision.calibrate
    bits = {"phi_0": {"weight": 1, "bias": 1, "result": 4}, "pool": {"result": 3}, "logits": {"weight": 2, "bias": 1}}
    done = calibrated(precision, bits)
    assert done.layers["phi_0"] == {"weight": FixedType(6, 1), "bias": FixedType(6, 1), "result": FixedType(6, 4)}
    assert done.layers["logits"] == {"weight": FixedType(6, 2), "bias": FixedType(6, 1)}  # result: the logits fix
    assert done.default == FixedType(6, 4) and done.integer_bits == 4 and not done.calibrate
    assert "phi_0 weight 1, bias 1, result 4; pool result 3" in done.notes[0]
    old = config_from_dict({"quantization": {"mode": "ptq", "bits": 4, "ptq_integer_bits": 6}}).quantization
    assert firmware_precision(old).default == FixedType(4, 4) and not firmware_precision(old).calibrate


def test_ptq_integer_bits_keeps_the_hashes_of_points_it_does_not_change():
    from deepsets_trigger.config import config_from_dict

    for quantization in ({"mode": "qat", "bits": 6}, {"mode": "ptq", "precision": "ap_fixed<8,3>"}):
        default = config_from_dict({"quantization": quantization})
        explicit = config_from_dict({"quantization": {**quantization, "ptq_integer_bits": 6}})
        assert default.point_hash() == explicit.point_hash() and default.train_hash() == explicit.train_hash()
    ptq = config_from_dict({"quantization": {"mode": "ptq", "bits": 6}})
    old = config_from_dict({"quantization": {"mode": "ptq", "bits": 6, "ptq_integer_bits": 6}})
    assert ptq.point_hash() != old.point_hash()  # its firmware changes: a new point
