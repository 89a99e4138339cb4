"""hls4ml's own project YAML as ``--hls-config``: tags it writes read as text, code-carrying tags refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from deepsets_trigger.cli import main
from deepsets_trigger.convert.hls_config import read_user_hls_config
from deepsets_trigger.errors import ToolkitError
from tests.conftest import read_result


def _small_qkeras_deepsets():
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    from deepsets_trigger.train import set_seeds

    set_seeds(1)
    q = quantized_bits(8, 0, alpha=1)
    inputs = keras.Input((8, 3), name="input_1")
    h = QActivation(quantized_relu(8, 0), name="relu_0")(
        QDense(8, kernel_quantizer=q, bias_quantizer=q, name="phi_0")(inputs)
    )
    h = keras.layers.GlobalAveragePooling1D(name="pool")(h)
    h = QDense(5, kernel_quantizer=q, bias_quantizer=q, name="logits")(h)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="softmax")(h))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A project YAML written by hls4ml 1.3.0's own ``write()``, and the same without the tagged line."""
    import hls4ml

    from deepsets_trigger.io import captured_output

    work = tmp_path_factory.mktemp("hls4ml_yaml")
    model = _small_qkeras_deepsets()
    model.save(work / "model.h5")
    with captured_output(work / "hls4ml.log"):
        config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
        hls_model = hls4ml.converters.convert_from_keras_model(
            model, hls_config=config, output_dir=str(work / "hls4ml_out"), backend="Vitis", io_type="io_parallel"
        )
        hls_model.write()
    text = (work / "hls4ml_out" / "hls4ml_config.yml").read_text()
    shutil.rmtree(work / "hls4ml_out")  # its OutputDir: nothing may be written there again
    (work / "written.yml").write_text(text)
    (work / "untagged.yml").write_text("\n".join(line for line in text.splitlines() if "!keras_model" not in line))
    x = np.random.default_rng(0).uniform(-1, 1, size=(200, 8, 3))
    np.save(work / "x.npy", (np.round(x * 1024) / 1024).astype(np.float32))  # on the input type's grid
    return work


def test_hls4ml_written_yaml_reads_like_the_same_config_without_the_tag(written):
    text = (written / "written.yml").read_text()
    assert "KerasModel: !keras_model" in text and "OutputDir:" in text  # what hls4ml 1.3.0 writes
    hls, settings, notes = read_user_hls_config(written / "written.yml")
    plain_hls, plain_settings, _ = read_user_hls_config(written / "untagged.yml")
    assert hls == plain_hls and settings == plain_settings  # the same input to the conversion
    assert settings["Backend"] == "Vitis" and settings["ProjectName"] == "myproject"
    ignored = " ".join(notes)
    for key in ("KerasModel", "OutputDir", "Stamp", "WriterConfig"):
        assert f"ignored {key}" in ignored
    assert "never read" in ignored and str(written / "hls4ml_out") in ignored


def test_code_carrying_tags_and_path_project_names_are_refused(written, tmp_path, capsys):
    text = (written / "written.yml").read_text()
    pwned = tmp_path / "pwned"
    evil = text.replace("KerasModel: !keras_model", f"KerasModel: !!python/object/apply:os.system ['touch {pwned}'] #")
    (tmp_path / "evil.yml").write_text(evil)
    with pytest.raises(ToolkitError, match="not valid YAML"):
        read_user_hls_config(tmp_path / "evil.yml")
    args = ["run", "--model", str(written / "model.h5"), "--inputs", str(written / "x.npy")]
    assert main([*args, "--hls-config", str(tmp_path / "evil.yml"), "--out", str(tmp_path / "o")]) == 2
    assert "python/object/apply" in capsys.readouterr().err
    assert not pwned.exists() and not (tmp_path / "o").exists()  # ran nothing, wrote nothing
    (tmp_path / "path.yml").write_text(text.replace("ProjectName: myproject", "ProjectName: ../../escape"))
    with pytest.raises(ToolkitError, match="ProjectName '../../escape' is not a C\\+\\+ identifier"):
        read_user_hls_config(tmp_path / "path.yml")


@pytest.mark.slow
def test_run_and_diagnose_take_the_written_yaml(written, tmp_path):
    args = ["--model", str(written / "model.h5"), "--hls-config", str(written / "written.yml")]
    assert main(["run", *args, "--inputs", str(written / "x.npy"), "--out", str(tmp_path / "run")]) == 0
    result = read_result(tmp_path / "run" / "result.json")
    assert result["status"] == "ok" and result["mode"] == "qat" and result["n_test"] == 200
    assert any("ignored KerasModel" in note for note in result["conversion_notes"])
    # hls4ml's own config for this QAT model: the decisions agree, the logits to 0.0013 (measured)
    assert result["logit_agreement"] == 1.0 and result["max_abs_logit_diff"] < 0.005
    assert main(["diagnose", *args, "--inputs", str(written / "x.npy"), "--out", str(tmp_path / "d")]) == 0
    record = json.loads((tmp_path / "d" / "diagnosis.json").read_text())
    assert record["emulator"] == "twin" and record["twin_check"]["mismatched_samples"] == 0
    assert record["attribution"]["baseline"]["agreement"] == 1.0 and record["cause"] != "rounding"
    assert any("ignored OutputDir" in note for note in record["conversion_notes"])
    assert not (written / "hls4ml_out").exists()  # the YAML's OutputDir was never written
