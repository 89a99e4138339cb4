"""Model files run no code, users' directories are never deleted, signals and locks behave.

The Lambda models below would create a marker file if Keras deserialised them: the test proves
they are refused before that, by every command that takes a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from deepsets_trigger.cli import main
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.model_files import check_model_file, scan_config
from tests.conftest import ROOT, read_result

TINY = {
    "data": {"source": "toy", "n_samples": 600, "n_constituents": 4},
    "model": {"phi": [4], "rho": [4]},
    "train": {"epochs": 2, "batch_size": 64},
    "quantization": {"mode": "qat", "bits": 6},
}


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _lambda_models(tmp_path: Path, marker: Path) -> list[Path]:
    from tensorflow import keras

    code = f'lambda x: x + 0 * __import__("os").system("touch {marker}")'
    functional_in = keras.Input((3,))
    functional = keras.Model(functional_in, keras.layers.Dense(2)(keras.layers.Lambda(eval(code))(functional_in)))
    sequential = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(eval(code)), keras.layers.Dense(2)])
    paths = []
    for name, model in (("functional", functional), ("sequential", sequential)):
        for suffix in (".h5", ".keras"):
            path = tmp_path / f"{name}{suffix}"
            model.save(path)
            paths.append(path)
    marker.unlink()  # building the models ran the lambda once; loading must not run it again
    return paths


@pytest.mark.slow
def test_lambda_models_are_refused_before_they_run(tmp_path, capsys):
    marker = tmp_path / "pwned"
    paths = _lambda_models(tmp_path, marker)
    np.save(tmp_path / "x.npy", np.zeros((4, 3), np.float32))
    (tmp_path / "hls.yml").write_text(yaml.safe_dump({"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}}))
    before = _files(tmp_path)
    for path in paths:
        for argv in (
            ["run", "--model", str(path), "--inputs", str(tmp_path / "x.npy"), "--out", str(tmp_path / "out")],
            [
                "diagnose",
                "--model",
                str(path),
                "--hls-config",
                str(tmp_path / "hls.yml"),
                "--inputs",
                str(tmp_path / "x.npy"),
                "--out",
                str(tmp_path / "diag"),
            ],
        ):
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert "Lambda" in err and len(err.strip().splitlines()) == 1, err
            assert not marker.exists(), f"{path.name} ran its code through {argv[0]}"
    assert _files(tmp_path) == before


def test_code_carrying_configs_are_refused():
    allowed = {"Dense", "Activation", "Functional", "function", "InputLayer"}
    dense = {"class_name": "Dense", "config": {"name": "d", "activation": "relu"}}
    scan_config({"class_name": "Functional", "config": {"layers": [dense]}}, allowed)  # fine
    cases = {
        "names module 'os'": {
            "class_name": "Activation",
            "config": {"name": "a", "activation": {"module": "os", "class_name": "function", "config": "system"}},
            "module": "keras.layers",
        },
        "TFOpLambda": {"class_name": "TFOpLambda", "config": {"name": "op", "function": "io.write_file"}},
        "class 'Evil'": {"class_name": "Evil", "config": {"name": "e"}},
        "is not a QKeras quantizer": {
            "class_name": "Dense",
            "config": {"name": "q", "kernel_quantizer": "print('x')"},
        },
    }
    for fragment, layer in cases.items():
        with pytest.raises(ToolkitError, match=fragment.replace("(", r"\(")):
            scan_config({"class_name": "Functional", "config": {"layers": [layer]}}, allowed)


@pytest.mark.slow
def test_custom_layers_need_explicit_trust(tmp_path):
    from tensorflow import keras

    module = tmp_path / "my_layers.py"
    module.write_text(
        "from tensorflow import keras\n\n"
        "class Doubler(keras.layers.Layer):\n"
        "    def call(self, x):\n"
        "        return 2 * x\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import my_layers

        inputs = keras.Input((3,))
        model = keras.Model(inputs, keras.layers.Dense(2)(my_layers.Doubler()(inputs)))
        model.save(tmp_path / "custom.h5")
    finally:
        sys.path.remove(str(tmp_path))
    with pytest.raises(ToolkitError, match="class 'Doubler'.*--trust-custom-layers"):
        check_model_file(tmp_path / "custom.h5", {})
    from deepsets_trigger.model_files import load_keras_model

    loaded = load_keras_model(tmp_path / "custom.h5", trusted=[str(module)])
    x = np.ones((1, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_out_holding_user_files_is_never_replaced(tmp_path, capsys):
    proj = tmp_path / "proj"
    (proj / "src").mkdir(parents=True)
    (proj / "result.json").write_text("{}")
    (proj / "thesis.tex").write_text("x")
    config = tmp_path / "good.yaml"
    config.write_text(yaml.safe_dump(TINY))
    before = {p: p.read_bytes() if p.is_file() else None for p in proj.rglob("*")}
    assert main(["run", str(config), "--out", str(proj)]) == 2
    assert "did not write" in capsys.readouterr().err
    assert {p: p.read_bytes() if p.is_file() else None for p in proj.rglob("*")} == before


def _start(argv: list[str], tmp_path: Path, name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "deepsets_trigger", *argv],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / f"{name}.stderr", "w"),  # a file: an unread pipe could block the process
        start_new_session=True,
    )


def _wait_for(condition, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.mark.slow
def test_interrupted_rerun_leaves_the_finished_run_untouched(tmp_path):
    config = tmp_path / "good.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out)]) == 0
    assert read_result(out / "result.json")["status"] == "ok"
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir() if p.is_file()}
    slow = yaml.safe_dump({**TINY, "train": {"epochs": 500, "batch_size": 8}})
    (tmp_path / "slow.yaml").write_text(slow)
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        proc = _start(["run", str(tmp_path / "slow.yaml"), "--out", str(out)], tmp_path, sig.name)
        _wait_for(lambda proc=proc: any(tmp_path.glob(f".run.partial-{proc.pid}")))
        time.sleep(8)  # TensorFlow imported, training under way
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == code, (tmp_path / f"{sig.name}.stderr").read_text()
        assert not list(tmp_path.glob(".run.*")), "a staging directory was left behind"
        now = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir() if p.is_file()}
        assert now == digests


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            text = (task / "children").read_text() if (task / "children").exists() else ""
            for child in map(int, text.split()):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_study_lock_and_sigterm(tmp_path, capsys):
    study = {
        **TINY,
        "train": {"epochs": 60, "batch_size": 16},
        "grid": {"quantization.bits": [4, 5, 6, 7]},
    }
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(study))
    out = tmp_path / "study"
    proc = _start(["study", str(config), "--out", str(out), "--workers", "2"], tmp_path, "study")
    _wait_for(lambda: (out / "results.sqlite").exists() and (out / ".study.lock").read_text().strip() != "")

    started = time.monotonic()
    assert main(["study", str(config), "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"process {proc.pid}" in err and time.monotonic() - started < 10, err

    def running() -> bool:
        with sqlite3.connect(out / "results.sqlite") as db:
            return db.execute("SELECT COUNT(*) FROM points WHERE status = 'running'").fetchone()[0] > 0

    _wait_for(running)
    time.sleep(3)
    workers = _children(proc.pid)
    assert workers, "the study started no worker"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143, (tmp_path / "study.stderr").read_text()
    _wait_for(lambda: not any(_alive(pid) for pid in workers), seconds=15)
    with sqlite3.connect(out / "results.sqlite") as db:
        statuses = [row[0] for row in db.execute("SELECT status FROM points")]
    assert "running" not in statuses and len(statuses) == 4
    assert (out / "results.csv").is_file()
    assert not list((out / "points").glob(".*.partial-*")) if (out / "points").exists() else True

    # a resumed study with another config is refused; the same config finishes every point once
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump({**study, "grid": {"quantization.bits": [4, 5]}}))
    assert main(["study", str(changed), "--out", str(out), "--resume"]) == 2
    assert "differs from the one this study was started with" in capsys.readouterr().err
    assert main(["study", str(config), "--out", str(out), "--resume", "--workers", "2"]) == 0
    with sqlite3.connect(out / "results.sqlite") as db:
        rows = db.execute("SELECT status, result FROM points").fetchall()
    assert [status for status, _ in rows] == ["ok"] * 4
    assert len({json.loads(result)["config_hash"] for _, result in rows}) == 4
    assert os.path.isdir(out / "points") and len(list((out / "points").iterdir())) == 4
