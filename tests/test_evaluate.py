import numpy as np

from deepsets_trigger.evaluate import compare_classification, compare_expected, resolution, roc_auc


def _auc_brute(y, s):
    pos, neg = s[y], s[~y]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def test_roc_auc_matches_pairwise_definition_with_ties():
    rng = np.random.default_rng(0)
    y = rng.random(300) > 0.4
    s = np.round(rng.normal(size=300) + y, 1)  # rounding creates ties
    assert abs(roc_auc(y, s) - _auc_brute(y, s)) < 1e-12
    assert roc_auc(y, y.astype(float)) == 1.0


def test_classification_metrics():
    y = np.eye(3)[[0, 1, 2, 0]]
    keras = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.3, 0.6, 0.1]])
    fw = keras.copy()
    fw[3] = [0.6, 0.3, 0.1]  # the firmware gets the last sample right, Keras does not
    out = compare_classification(np.log(keras), keras, np.log(fw), fw, y, ("a", "b", "c"))
    assert out["keras_accuracy"] == 0.75 and out["firmware_accuracy"] == 1.0
    assert abs(out["accuracy_ratio"] - 4 / 3) < 1e-12
    assert out["logit_agreement"] == 0.75 and out["prob_agreement"] == 0.75
    assert abs(out["max_abs_logit_diff"] - np.log(0.6 / 0.3)) < 1e-9
    assert set(out["auc_keras"]) == {"a", "b", "c"}


def test_expected_and_resolution():
    fw = np.array([[0.2], [0.7], [0.55]])
    exp = np.array([[0.25], [0.6], [0.45]])
    out = compare_expected(fw, exp)
    assert abs(out["expected_max_abs_diff"] - 0.1) < 1e-12
    assert abs(out["expected_agreement"] - 2 / 3) < 1e-12
    assert abs(resolution(np.array([1.1, 0.9]), np.array([1.0, 1.0])) - 0.1) < 1e-12


def test_roc_sets_per_class_binary_with_padding_and_none_for_regression():
    from deepsets_trigger.report.roc import draw_roc, roc_sets

    rng = np.random.default_rng(1)
    y = np.eye(3)[rng.integers(0, 3, 300)]
    k, f = rng.random((300, 3)), rng.random((300, 3))
    sets = roc_sets(y, k, f, ("g", "q", "t"))
    assert [s[0] for s in sets] == ["g", "q", "t"]
    assert np.array_equal(sets[1][1], y[:, 1] > 0.5) and np.array_equal(sets[1][3], f[:, 1])
    # edge labels with padding (-1) as the interaction network stores them: padding left out
    labels = np.array([[1, 0, -1], [0, 1, -1]], float)[..., None]
    scores = np.array([[0.9, 0.2, 0.7], [0.1, 0.6, 0.99]])
    ((name, truth, ks, fs),) = roc_sets(labels, scores, scores, ("fake", "true"))
    assert name == "true" and truth.tolist() == [True, False, False, True] and ks.tolist() == [0.9, 0.2, 0.1, 0.6]
    assert roc_sets(rng.random(50) * 3, rng.random(50), rng.random(50)) == []  # a regression target

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert draw_roc(ax, y, k, f, ("g", "q", "t"))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == f"g Keras (AUC {roc_auc(y[:, 0] > 0.5, k[:, 0]):.3f})"
    assert labels[1] == f"g firmware (AUC {roc_auc(y[:, 0] > 0.5, f[:, 0]):.3f})"
    styles = [line.get_linestyle() for line in ax.get_lines()[:2]]
    assert styles == ["-", "--"]  # Keras solid, firmware dashed
    plt.close(fig)
