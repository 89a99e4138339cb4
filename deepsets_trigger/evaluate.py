"""Keras-vs-firmware comparison on the same held-out samples.

Classification: accuracy of both, their ratio, per-class one-vs-rest AUC of both, argmax
agreement of the logits (before the softmax tables) and of the probabilities, and the
largest logit difference. Regression: resolution σ((pred − true)/true) of both.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney statistic, ties counted half)."""
    y_true = np.asarray(y_true).astype(bool)
    n_pos, n_neg = int(y_true.sum()), int((~y_true).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score), dtype=np.float64)
    sorted_scores = np.asarray(score)[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y_true].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def per_class_auc(y_onehot: np.ndarray, scores: np.ndarray, class_names: tuple[str, ...]) -> dict[str, float]:
    """One-vs-rest AUC per class."""
    names = class_names or tuple(f"class_{i}" for i in range(scores.shape[1]))
    return {names[i]: roc_auc(y_onehot[:, i] > 0.5, scores[:, i]) for i in range(scores.shape[1])}


def resolution(pred: np.ndarray, true: np.ndarray) -> float:
    """σ of the relative residual (pred − true)/true over samples with true ≠ 0."""
    pred, true = np.ravel(pred), np.ravel(true)
    keep = true != 0
    return float(np.std((pred[keep] - true[keep]) / true[keep]))


def compare_classification(
    keras_logits: np.ndarray | None,
    keras_probs: np.ndarray,
    fw_logits: np.ndarray | None,
    fw_probs: np.ndarray,
    y_onehot: np.ndarray | None,
    class_names: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Metrics of the classification contract; label-dependent ones are ``None`` without labels."""
    top2 = np.sort(fw_probs, axis=1)[:, -2:]
    out: dict[str, Any] = {
        "prob_agreement": float(np.mean(keras_probs.argmax(1) == fw_probs.argmax(1))),
        # samples whose two largest firmware probabilities are equal (same softmax table bin):
        # there the firmware argmax takes the lower class index, whatever the logits say
        "prob_ties": int(np.sum(top2[:, 0] == top2[:, 1])),
        "max_abs_prob_diff": float(np.max(np.abs(keras_probs - fw_probs))),
        "logit_agreement": None,
        "max_abs_logit_diff": None,
    }
    if keras_logits is not None and fw_logits is not None:
        out["logit_agreement"] = float(np.mean(keras_logits.argmax(1) == fw_logits.argmax(1)))
        out["max_abs_logit_diff"] = float(np.max(np.abs(keras_logits - fw_logits)))
    if y_onehot is None:
        out.update(keras_accuracy=None, firmware_accuracy=None, accuracy_ratio=None, auc_keras=None, auc_firmware=None)
        return out
    truth = y_onehot.argmax(1)
    keras_acc = float(np.mean(keras_probs.argmax(1) == truth))
    fw_acc = float(np.mean(fw_probs.argmax(1) == truth))
    out.update(
        keras_accuracy=keras_acc,
        firmware_accuracy=fw_acc,
        accuracy_ratio=fw_acc / keras_acc if keras_acc > 0 else None,
        auc_keras=per_class_auc(y_onehot, keras_probs, class_names),
        auc_firmware=per_class_auc(y_onehot, fw_probs, class_names),
    )
    return out


def compare_regression(keras_pred: np.ndarray, fw_pred: np.ndarray, y_true: np.ndarray | None) -> dict[str, Any]:
    """Regression contract: resolutions of both and the largest output difference."""
    out: dict[str, Any] = {"max_abs_output_diff": float(np.max(np.abs(keras_pred - fw_pred)))}
    if y_true is not None:
        out["resolution_keras"] = resolution(keras_pred, y_true)
        out["resolution_firmware"] = resolution(fw_pred, y_true)
    return out


def compare_binary(keras_score: np.ndarray, fw_score: np.ndarray, labels: np.ndarray | None) -> dict[str, Any]:
    """One sigmoid output: accuracies at 0.5, decision agreement (as ``logit_agreement``), max |Δ|, AUCs."""
    k, f = np.ravel(keras_score), np.ravel(fw_score)
    out: dict[str, Any] = {
        "logit_agreement": float(np.mean((k > 0.5) == (f > 0.5))),
        "max_abs_logit_diff": float(np.max(np.abs(k - f))),
    }
    if labels is None:
        return out
    label = np.ravel(labels) > 0.5
    acc_k, acc_f = float(np.mean((k > 0.5) == label)), float(np.mean((f > 0.5) == label))
    defined = 0 < label.mean() < 1
    out.update(
        keras_accuracy=acc_k,
        firmware_accuracy=acc_f,
        accuracy_ratio=acc_f / acc_k if acc_k else None,
        auc_keras=roc_auc(label, k) if defined else None,
        auc_firmware=roc_auc(label, f) if defined else None,
    )
    return out


def compare_firmware(dataset: Any, outputs: list[str], keras_out: list[np.ndarray], fw: list[np.ndarray]) -> dict:
    """The core comparison: classification (logits first when exposed, then probabilities) or regression."""
    if dataset.task == "regression":
        return compare_regression(keras_out[-1], fw[-1], dataset.y_test)
    has_logits = len(outputs) > 1
    return compare_classification(
        keras_out[0] if has_logits else None,
        keras_out[-1],
        fw[0] if has_logits else None,
        fw[-1],
        dataset.y_test,
        dataset.class_names,
    )


def compare_outputs(names: list[str], keras_out: list[np.ndarray], fw_out: list[np.ndarray]) -> dict[str, Any]:
    """Per model output (e.g. GarNet's two heads): max/mean |Δ| and, for one column in [0, 1]
    (a sigmoid), the fraction of samples on the same side of 0.5."""
    record: dict[str, Any] = {}
    for name, k, f in zip(names, keras_out, fw_out, strict=True):
        k, f = k.reshape(len(k), -1), f.reshape(len(f), -1)
        entry = {"max_abs_diff": float(np.max(np.abs(k - f))), "mean_abs_diff": float(np.mean(np.abs(k - f)))}
        if k.shape[1] == 1 and k.min() >= 0 and k.max() <= 1:
            entry["agreement"] = float(np.mean((k[:, 0] > 0.5) == (f[:, 0] > 0.5)))
        record[name] = entry
    return record


def compare_expected(fw_out: np.ndarray, expected: np.ndarray) -> dict[str, float]:
    """Firmware vs a peer's expected outputs: max/mean |Δ| and decision agreement.

    Agreement is the same side of 0.5 for one sigmoid-like column, the same argmax otherwise.
    """
    fw_out = fw_out.reshape(len(fw_out), -1)
    expected = expected.reshape(len(expected), -1)
    diff = np.abs(fw_out - expected)
    if fw_out.shape[1] == 1:
        agree = np.mean((fw_out[:, 0] > 0.5) == (expected[:, 0] > 0.5))
    else:
        agree = np.mean(fw_out.argmax(1) == expected.argmax(1))
    return {
        "expected_max_abs_diff": float(diff.max()),
        "expected_mean_abs_diff": float(diff.mean()),
        "expected_agreement": float(agree),
    }
