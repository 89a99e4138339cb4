"""Training and pruning on small toy data (no conversion)."""

from __future__ import annotations

import pytest

from deepsets_trigger.config import config_from_dict
from deepsets_trigger.data import load_dataset
from deepsets_trigger.registry import family
from deepsets_trigger.train import train_model


def _kernel_sparsity(model) -> float:
    kernels = [layer.get_weights()[0] for layer in model.layers if layer.get_weights()]
    return sum(int((k == 0).sum()) for k in kernels) / sum(k.size for k in kernels)


@pytest.mark.parametrize(
    "quantization, schedule",
    [({"mode": "float"}, "polynomial"), ({"mode": "qat", "bits": 6}, "constant")],
)
def test_pruning_reaches_the_target_and_is_stripped(quantization, schedule):
    raw = {
        "data": {"source": "toy", "n_samples": 800},
        "model": {"phi": [16, 16], "rho": [16]},
        "train": {"epochs": 6, "batch_size": 64},
        "quantization": quantization,
        "pruning": {"sparsity": 0.5, "schedule": schedule, "frequency": 5},
    }
    cfg = config_from_dict(raw)
    data = load_dataset(cfg.data)
    model = family("deepsets").build(cfg, data.input_shapes, data.n_outputs)
    trained, history = train_model(model, data, cfg.train, cfg.pruning)
    assert not any("prune_low_magnitude" in layer.name for layer in trained.layers)
    assert [layer.name for layer in trained.layers] == [layer.name for layer in model.layers]
    assert 0.49 <= _kernel_sparsity(trained) <= 0.6
    assert len(history["loss"]) >= 4  # early stopping waits for the schedule to finish


_TRAIN_ONE = """
import hashlib, sys
from deepsets_trigger.config import config_from_dict
from deepsets_trigger.data import load_dataset
from deepsets_trigger.registry import family
from deepsets_trigger.train import set_seeds, train_model
raw = {"data": {"source": "toy", "n_samples": 600}, "model": {"phi": [8], "rho": [8]},
       "train": {"epochs": 2, "batch_size": 64, "seed": int(sys.argv[1])}, "quantization": {"mode": "qat", "bits": 6}}
cfg = config_from_dict(raw)
data = load_dataset(cfg.data)
set_seeds(cfg.train.seed)
model = family("deepsets").build(cfg, data.input_shapes, data.n_outputs)
model, _ = train_model(model, data, cfg.train, cfg.pruning)
print(hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest())
"""


def test_training_is_reproducible_across_processes():
    """Same seed → the same weights in a new process (a config hash names one model)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    def weights_hash(seed: int) -> str:
        proc = subprocess.run(
            [sys.executable, "-c", _TRAIN_ONE, str(seed)], capture_output=True, text=True, cwd=ROOT, timeout=300
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout.strip().splitlines()[-1]

    first = weights_hash(0)
    assert weights_hash(0) == first
    assert weights_hash(1) != first
