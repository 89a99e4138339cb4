"""The result record: every key of ``result.json`` with its meaning, in one place.

``result.json`` (the pipeline), the study store's columns and ``results.csv`` (the contract
columns, in :data:`CSV_COLUMNS` order), the CLI's printout and the report all derive from
:data:`FIELDS`. The names are a contract with scripts outside this repository: never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    """One key of the record.

    Attributes:
        name: the key (and CSV column).
        meaning: what it holds.
        kind: ``real`` | ``text`` | ``json`` (lists, mappings): the store's column type.
        csv: a column of ``results.csv`` (the contract).
        path: where it sits in ``result.json`` when nested (the timings).
        printed: shown by ``run`` after a point.
    """

    name: str
    meaning: str
    kind: str = "real"
    csv: bool = False
    path: tuple[str, ...] = ()
    printed: bool = False

    def value(self, result: dict[str, Any]) -> Any:
        """This field of a ``result.json`` payload (``None`` when absent)."""
        node: Any = result
        for key in self.path or (self.name,):
            node = node.get(key) if isinstance(node, dict) else None
        return node


def _column(name: str, meaning: str, kind: str = "real", **more: Any) -> Field:
    return Field(name, meaning, kind, csv=True, **more)


_CSV = [  # results.csv after point_id, in the contract's order
    _column("model", "the model family (model.kind), or the --model file name", "text"),
    _column("mode", "float | ptq | qat", "text", printed=True),
    _column("weight_bits", "QAT: QKeras weight bits; PTQ: W of ap_fixed<W,I>"),
    _column("activation_bits", "QAT: QKeras activation bits; PTQ: W of ap_fixed<W,I>"),
    _column("integer_bits", "QAT: QKeras integer bits (sign excluded); PTQ: I of ap_fixed<W,I>"),
    _column("width", "the architecture's width axis (DeepSets: φ width)"),
    _column("sparsity", "fraction of zero weights in the converted model (what the firmware sees)", printed=True),
    _column("reuse_factor", "the requested model-wide reuse factor (per layer: reuse_factors)"),
    _column("strategy", "hls4ml strategy: Latency | Resource | distributed_arithmetic", "text"),
    _column("status", "ok | failed", "text"),
    _column("keras_accuracy", "accuracy of the Keras model on the test samples", printed=True),
    _column("firmware_accuracy", "accuracy of the emulated firmware on the same samples", printed=True),
    _column("accuracy_ratio", "firmware_accuracy / keras_accuracy", printed=True),
    _column("logit_agreement", "same argmax of the logits (sigmoid outputs: same side of 0.5)", printed=True),
    _column("max_abs_logit_diff", "largest |Keras − firmware| logit (sigmoid outputs: score)", printed=True),
    _column("lut", "LUTs (see resource_source)"),
    _column("ff", "flip-flops"),
    _column("dsp", "DSP blocks"),
    _column("bram", "BRAM18K blocks"),
    _column("latency_cycles", "latency in clock cycles"),
    _column("ii", "initiation interval in cycles"),
    _column("bops", "bit operations (arXiv 2102.11289)"),
    _column("resource_source", "analytic | yosys | da4ml | vivado: where the resource numbers come from", "text"),
    _column("train_s", "training time (s)", path=("timings", "train_s")),
    _column("convert_s", "conversion time (s)", path=("timings", "convert_s")),
    _column("compile_s", "g++ compile time (s)", path=("timings", "compile_s")),
    _column("predict_s", "emulation time (s)", path=("timings", "predict_s")),
    _column("error", "why the point failed, else null", "text"),
    _column("emulator", "what produced the firmware numbers: cpp (hls4ml's compiled C++) | twin (verified)", "text"),
]

_MORE = [
    Field("config_hash", "hash of the resolved config: the point's identity", "text"),
    Field("precision", "PTQ/float: the uniform firmware type", "text"),
    Field("phi_widths", "DeepSets: φ layer widths", "json"),
    Field("rho_widths", "DeepSets: ρ layer widths", "json"),
    Field("aggregation", "DeepSets: mean | max pooling", "text"),
    Field("n_constituents", "set size of the inputs"),
    Field("target_sparsity", "what pruning aimed for"),
    Field("backend", "Vitis | Vivado", "text"),
    Field("n_test", "test samples compared"),
    Field("auc_keras", "one-vs-rest AUC per class (Keras)", "json"),
    Field("auc_firmware", "one-vs-rest AUC per class (firmware)", "json"),
    Field("prob_agreement", "same argmax after the softmax tables"),
    Field("max_abs_prob_diff", "largest |Keras − firmware| probability"),
    Field("prob_ties", "samples whose two largest firmware probabilities are equal"),
    Field("resolution_keras", "regression: σ((pred − true)/true), GarNet: σ/μ of E_pred/E_true", printed=True),
    Field("resolution_firmware", "the same for the firmware", printed=True),
    Field("max_abs_output_diff", "regression: largest |Keras − firmware| output"),
    Field("outputs", "per output: max_abs_diff, mean_abs_diff, agreement", "json"),
    Field("expected_max_abs_diff", "--expected: largest |firmware − expected|"),
    Field("expected_mean_abs_diff", "--expected: mean |firmware − expected|"),
    Field("expected_agreement", "--expected: decision agreement with the peer", printed=True),
    Field("reuse_factors", "the reuse factor each layer really used", "json"),
    Field("input_saturated_fraction", "fraction of test input values outside the firmware input type"),
    Field("emulation_samples_per_s", "firmware emulation throughput"),
    Field("conversion_notes", "what the converter changed, and why", "json"),
    Field("timings", "train_s, convert_s, compile_s, predict_s (and yosys_s, synth_s)", "json"),
    Field("hls_synthesis", "the C-synthesis report (hls.synth)", "json"),
    Field("null_reasons", "why a number is null (undefined)", "json"),
    Field(
        "twin_check",
        "the twin against the compiled C++ on the test samples: samples, mismatched_samples, max_abs_diff "
        "(0: verified); on a study's twin points, the points that verified it (verified_on)",
        "json",
    ),
]

# --- edge classification on graphs (model.kind: interaction_network) ---------------------------
# keras_accuracy / firmware_accuracy / accuracy_ratio, auc_*, logit_agreement and max_abs_logit_diff
# keep their meaning there, on the real test edges (decisions at edge_threshold, on the logits)
_MORE += [
    Field("relational_widths", "interaction network: relational (edge) MLP widths", "json"),
    Field("object_widths", "interaction network: object (node) MLP widths", "json"),
    Field("classifier_widths", "interaction network: edge classifier MLP widths", "json"),
    Field("iterations", "interaction network: message-passing steps"),
    Field("edge_threshold", "the working point on the edge score (decisions: score > it)"),
    Field("n_edges", "real (unpadded) test edges compared"),
    Field("efficiency_keras", "true edges kept / true edges at edge_threshold (Keras)", printed=True),
    Field("efficiency_firmware", "the same for the firmware", printed=True),
    Field("purity_keras", "true edges kept / edges kept at edge_threshold (Keras)", printed=True),
    Field("purity_firmware", "the same for the firmware", printed=True),
    Field("overall_efficiency_keras", "true edges kept / all true edges, the graph builder's misses included"),
    Field("overall_efficiency_firmware", "the same for the firmware"),
    Field("max_abs_score_diff", "largest |Keras − firmware| edge score after the sigmoid (real edges)"),
]
# --- end edge classification ------------------------------------------------------------------

FIELDS: tuple[Field, ...] = (*_CSV, *_MORE)
BY_NAME = {f.name: f for f in FIELDS}
CSV_COLUMNS: tuple[str, ...] = ("point_id", *(f.name for f in _CSV))
PRINTED: tuple[str, ...] = tuple(f.name for f in FIELDS if f.printed)


def unknown_keys(result: dict[str, Any]) -> list[str]:
    """Keys of ``result`` that are not fields of the record (a test keeps this empty)."""
    return sorted(k for k in result if k not in BY_NAME)


def csv_row(point_id: str, result: dict[str, Any]) -> dict[str, Any]:
    """The ``results.csv`` columns of a point's result."""
    return {"point_id": point_id, **{f.name: f.value(result) for f in _CSV}}
