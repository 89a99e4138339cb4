import numpy as np
import pytest

from deepsets_trigger.config import config_from_dict
from deepsets_trigger.data import load_dataset
from deepsets_trigger.errors import ToolkitError


def _write(tmp_path, x, y):
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    return str(tmp_path / "x.npy"), str(tmp_path / "y.npy")


def _jets(n=200, c=16, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c, 3)).astype(np.float32) * [50, 0.1, 0.1]
    x[:, 10:] = 0.0  # zero padding
    y = np.eye(5)[rng.integers(0, 5, n)]
    return x.astype(np.float32), y


def _cfg(x, y, **data):
    return config_from_dict({"data": {"source": "npy", "x": x, "y": y, **data}}).data


def test_npy_loader_selects_constituents_and_scales(tmp_path):
    x, y = _jets()
    data = load_dataset(_cfg(*_write(tmp_path, x, y), n_constituents=8, normalisation={"scale": [50, 0.1, 0.1]}))
    total = len(data.x_train[0]) + len(data.x_val[0]) + len(data.x_test[0])
    assert total == 200 and data.x_test[0].shape[1:] == (8, 3)
    assert len(data.x_test[0]) == 40 and len(data.x_val[0]) == 20
    assert data.class_names == ("g", "q", "W", "Z", "t")
    raw_std = np.std(x[:, :8].reshape(-1, 3), axis=0) / [50, 0.1, 0.1]
    got_std = np.std(np.concatenate([data.x_train[0], data.x_val[0], data.x_test[0]]).reshape(-1, 3), axis=0)
    np.testing.assert_allclose(got_std, raw_std, rtol=1e-5)


def test_standard_normalisation_is_fitted_on_train_only_and_keeps_padding(tmp_path):
    x, y = _jets()
    data = load_dataset(_cfg(*_write(tmp_path, x, y), n_constituents=16, normalisation={"kind": "standard"}))
    real = data.x_train[0][:, :10].reshape(-1, 3)
    np.testing.assert_allclose(real.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(real.std(axis=0), 1.0, atol=1e-4)
    assert np.all(data.x_test[0][:, 10:] == 0.0)
    test_real = data.x_test[0][:, :10].reshape(-1, 3)
    assert np.abs(test_real.mean(axis=0)).max() > 1e-4  # not refitted on the test split


def test_robust_normalisation(tmp_path):
    x, y = _jets()
    data = load_dataset(_cfg(*_write(tmp_path, x, y), n_constituents=16, normalisation={"kind": "robust"}))
    real = data.x_train[0][:, :10].reshape(-1, 3)
    np.testing.assert_allclose(np.median(real, axis=0), 0.0, atol=1e-5)
    q25, q75 = np.percentile(real, [25, 75], axis=0)
    np.testing.assert_allclose(q75 - q25, 1.0, atol=1e-4)


def test_integer_labels_become_one_hot(tmp_path):
    x, y = _jets()
    data = load_dataset(_cfg(*_write(tmp_path, x, y.argmax(1)), n_constituents=8))
    assert data.y_test.shape[1] == 5 and set(np.unique(data.y_test)) == {0.0, 1.0}


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda x, y: (np.where(np.arange(x.size).reshape(x.shape) == 7, np.nan, x), y), "NaN or infinite"),
        (lambda x, y: (x[:, :, 0], y), "shape (N, C, F)"),
        (lambda x, y: (x, y[:-1]), "must match"),
    ],
)
def test_bad_arrays_fail_clearly(tmp_path, mutate, fragment):
    x, y = mutate(*_jets())
    with pytest.raises(ToolkitError, match="") as info:
        load_dataset(_cfg(*_write(tmp_path, x, y), n_constituents=8))
    assert fragment in str(info.value)


def test_missing_corrupt_and_short_files(tmp_path):
    x, y = _write(tmp_path, *_jets())
    with pytest.raises(ToolkitError, match="does not exist"):
        load_dataset(_cfg(str(tmp_path / "nope.npy"), y))
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ToolkitError, match="not a readable .npy"):
        load_dataset(_cfg(str(tmp_path / "bad.npy"), y))
    with pytest.raises(ToolkitError, match="holds only 16 constituents"):
        load_dataset(_cfg(x, y, n_constituents=32))
    with pytest.raises(ToolkitError, match="one scale per feature"):
        load_dataset(_cfg(x, y, normalisation={"scale": [1, 2]}))


def test_toy_source_is_learnable_signal_and_deterministic():
    cfg = config_from_dict({"data": {"source": "toy", "n_samples": 2000}}).data
    a, b = load_dataset(cfg), load_dataset(cfg)
    np.testing.assert_array_equal(a.x_train[0], b.x_train[0])
    # the classes differ in leading-constituent pT: a simple cut separates class 0 from 4
    lead = a.x_train[0][:, 0, 0]
    labels = a.y_train.argmax(1)
    assert np.median(lead[labels == 4]) > 2 * np.median(lead[labels == 0])
