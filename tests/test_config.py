import pytest

from deepsets_trigger.config import config_from_dict
from deepsets_trigger.errors import ToolkitError

CONTRACT = {
    "data": {
        "source": "npy",
        "x": "x.npy",
        "y": "y.npy",
        "n_constituents": 8,
        "normalisation": {"kind": "fixed", "scale": [219, 0.2, 0.2]},
        "test_fraction": 0.2,
        "seed": 0,
    },
    "model": {"kind": "deepsets", "phi": [32, 32, 32], "rho": [32], "aggregation": "mean", "head": "classification"},
    "train": {"epochs": 30, "batch_size": 256, "learning_rate": 0.002},
    "quantization": {"mode": "qat", "weight_bits": 6, "activation_bits": 8, "integer_bits": 0},
    "pruning": {"sparsity": 0.0},
    "hls": {
        "backend": "Vitis",
        "io_type": "io_parallel",
        "strategy": "Latency",
        "reuse_factor": 1,
        "part": "xcvu13p-flga2577-2-e",
        "clock_period": 5,
    },
}


def test_contract_keys_validate():
    cfg = config_from_dict(CONTRACT)
    assert cfg.model.phi == [32, 32, 32]
    assert cfg.data.normalisation.scale == [219, 0.2, 0.2]
    assert cfg.quantization.weight_bits == 6


def test_ptq_forms():
    assert config_from_dict({"quantization": {"mode": "ptq", "precision": "ap_fixed<8,3>"}}).quantization.precision
    per_layer = {"default": "ap_fixed<16,6>", "phi_0": "ap_fixed<8,3>", "rho_0": {"weight": "ap_fixed<6,1>"}}
    assert config_from_dict({"quantization": {"mode": "ptq", "precision": per_layer}}).quantization.precision


@pytest.mark.parametrize(
    "raw, fragments",
    [
        ({"modle": {}}, ["unknown top-level section 'modle'", "data, model, train"]),
        ({"model": {"phii": [3]}}, ["model: unknown key 'phii'", "kind, head, phi, rho, phi_width"]),
        ({"model": {"aggregation": "sum"}}, ["model.aggregation: 'sum' is not one of 'mean', 'max'"]),
        ({"hls": {"backend": "Quartus"}}, ["'Vitis', 'Vivado'"]),
        ({"quantization": {"mode": "ptq", "precision": "ap_fixed<4,8>"}}, ["more integer bits"]),
        ({"quantization": {"mode": "ptq", "precision": "fixed16"}}, ["cannot read 'fixed16'"]),
        ({"quantization": {"mode": "qat", "precision": "ap_fixed<8,3>"}}, ["QAT takes bit widths"]),
        ({"quantization": {"mode": "ptq", "weight_bits": 6}}, ["per-tensor bit widths are for mode qat"]),
        ({"quantization": {"mode": "ptq", "bits": 6, "precision": "ap_fixed<6,2>"}}, ["either bits or precision"]),
        ({"train": {"epochs": 0}}, ["train.epochs must be positive"]),
        ({"train": {"epochs": "ten"}}, ["train.epochs: expected a whole number"]),
        ({"model": {"kind": "cnn"}}, ["model.kind: 'cnn' is not one of 'deepsets'"]),
        ({"pruning": {"sparsity": 1.5}}, ["sparsity must be in [0, 1)"]),
        ({"quantization": {"mode": "ptq", "precision": {"phi_0": {"weights": "ap_fixed<8,3>"}}}}, ["unknown key"]),
    ],
)
def test_bad_configs_name_the_problem_and_the_choices(raw, fragments):
    with pytest.raises(ToolkitError) as info:
        config_from_dict(raw)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_hash_is_stable_and_sensitive():
    a, b = config_from_dict(CONTRACT), config_from_dict(CONTRACT)
    assert a.point_hash() == b.point_hash()
    changed = config_from_dict({**CONTRACT, "hls": {**CONTRACT["hls"], "reuse_factor": 2}})
    assert changed.point_hash() != a.point_hash()
    verbose = config_from_dict({**CONTRACT, "train": {**CONTRACT["train"], "verbose": 1}})
    assert verbose.point_hash() == a.point_hash()


def test_load_config_reads_yaml_for_notebooks(tmp_path):
    import yaml

    from deepsets_trigger.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(CONTRACT))
    assert load_config(path).point_hash() == config_from_dict(CONTRACT).point_hash()
    path.write_text("- a list\n")
    with pytest.raises(ToolkitError, match="must hold a mapping"):
        load_config(path)
    with pytest.raises(ToolkitError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
