"""Random firmware configurations for the twin's property test (``tests/test_twin.py``, ``scripts/twin_property.py``).

Each case is drawn from its own seed: architecture (DeepSets or MLP, widths, mean/max pooling,
classification/regression/sigmoid head), per-layer types (narrow ones included, so inputs,
products, sums and results really round, wrap and saturate, in every rounding and overflow
mode), accumulators (hls4ml's inferred ones or narrow saturating/wrapping ones, which force the
exact path and make the accumulation order matter), softmax tables (size, implementation, table
types), pruned weights, QAT (QKeras) or PTQ, Latency/Resource and reuse factors, Vivado/Vitis.
Half the cases go through the toolkit's ``convert`` (its fixes applied), the other half through
plain hls4ml conversion (hls4ml's own defaults), so the twin is checked against both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROUNDING = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")


@dataclass
class Case:
    seed: int
    kind: str  # deepsets | mlp
    head: str  # classification | regression | sigmoid
    qat: bool
    strategy: str
    reuse: int
    backend: str
    toolkit: bool  # through deepsets_trigger.convert.convert (else plain hls4ml)
    widths: list[int]
    rho: list[int]
    aggregation: str
    n_const: int
    n_feat: int
    n_out: int
    sparsity: float
    softmax: dict[str, Any] = field(default_factory=dict)
    precision: dict[str, Any] = field(default_factory=dict)  # HLSConfig LayerName overrides
    default: str = "ap_fixed<16,6>"
    input_scale: float = 1.0

    def describe(self) -> str:
        arch = f"{self.kind}{'x'.join(map(str, self.widths))}" + (
            f"-{self.aggregation}-{'x'.join(map(str, self.rho))}" if self.kind == "deepsets" else ""
        )
        sm = self.softmax.get("Implementation", "") if self.head == "classification" else ""
        return (
            f"{arch} {self.head}{'/' + sm if sm else ''} {'QAT' if self.qat else 'PTQ'} {self.default} "
            f"{self.strategy}/RF{self.reuse} {self.backend} {'toolkit' if self.toolkit else 'hls4ml'} "
            f"pruned {self.sparsity:.0%} overrides {len(self.precision)}"
        )


def _type(rng: np.random.Generator, narrow: bool, signed: bool = True) -> str:
    width = int(rng.integers(3, 9) if narrow else rng.integers(8, 19))
    integer = int(rng.integers(-1, min(width, 6) + 1))
    rounding, overflow = rng.choice(ROUNDING), rng.choice(OVERFLOW)
    return f"{'' if signed else 'u'}fixed<{width},{integer},{rounding},{overflow}>"


def draw(seed: int) -> Case:
    """The configuration of case ``seed`` (deterministic)."""
    rng = np.random.default_rng(seed)
    kind = "deepsets" if rng.random() < 0.65 else "mlp"
    head = rng.choice(["classification", "regression", "sigmoid"], p=[0.6, 0.25, 0.15])
    qat = bool(rng.random() < 0.35)
    strategy = "Resource" if rng.random() < 0.4 else "Latency"
    reuse = int(rng.choice([1, 2, 3, 4, 8])) if strategy == "Resource" or rng.random() < 0.3 else 1
    depth = int(rng.integers(1, 4))
    widths = [int(rng.choice([4, 6, 8, 12, 16])) for _ in range(depth)]
    rho = [int(rng.choice([4, 8, 16])) for _ in range(int(rng.integers(0, 3)))]
    case = Case(
        seed=seed,
        kind=kind,
        head=str(head),
        qat=qat,
        strategy=strategy,
        reuse=reuse,
        backend="Vitis" if rng.random() < 0.6 else "Vivado",
        toolkit=bool(rng.random() < 0.5),
        widths=widths,
        rho=rho if kind == "deepsets" else [],
        aggregation="mean" if rng.random() < 0.6 else "max",
        n_const=int(rng.choice([4, 8])),
        n_feat=int(rng.choice([3, 4, 6])),
        n_out=int(rng.choice([2, 3, 5])) if head == "classification" else 1,
        sparsity=float(rng.choice([0.0, 0.0, 0.3, 0.6])),
        input_scale=float(rng.choice([0.5, 1.0, 3.0])),
    )
    w = int(rng.integers(6, 19))
    case.default = f"ap_fixed<{w},{int(rng.integers(1, min(w, 7) + 1))}>"
    layers = _layer_names(case)
    for name in layers["dense"]:
        if rng.random() < 0.5:
            spec: dict[str, str] = {}
            if not qat and rng.random() < 0.6:
                spec["weight"] = _type(rng, narrow=rng.random() < 0.5)
                spec["bias"] = _type(rng, narrow=rng.random() < 0.5)
            if rng.random() < 0.6:
                spec["accum"] = _type(rng, narrow=rng.random() < 0.4)
            if rng.random() < 0.6:
                spec["result"] = _type(rng, narrow=rng.random() < 0.4)
            case.precision[name] = {"Precision": spec}
    for name in layers["act"]:
        if rng.random() < 0.4:
            case.precision[name] = {
                "Precision": {"result": _type(rng, narrow=rng.random() < 0.5, signed=rng.random() < 0.5)}
            }
    if layers["pool"] and not case.toolkit and rng.random() < 0.6:
        case.precision["pool"] = {
            "Precision": {"accum": _type(rng, narrow=rng.random() < 0.4), "result": _type(rng, False)}
        }
    if rng.random() < 0.5:
        case.precision["input_1"] = {"Precision": {"result": _type(rng, narrow=rng.random() < 0.3)}}
    if head == "classification":
        impl = str(rng.choice(["stable", "stable", "stable", "latency", "argmax", "legacy"]))
        sm: dict[str, Any] = {"Implementation": impl, "TableSize": int(rng.choice([64, 256, 1024, 2048]))}
        if rng.random() < 0.5:
            table = f"ufixed<{int(rng.integers(10, 19))},{int(rng.integers(1, 3))},RND,SAT>"
            sm["Precision"] = {"exp_table": table, "inv_table": table, "result": "ufixed<16,1,RND,SAT>"}
            if impl == "legacy":
                sm["Precision"] = {"table": f"fixed<{int(rng.integers(12, 19))},8,RND,SAT>"}
        case.softmax = sm
    if head == "sigmoid":
        case.softmax = {"TableSize": int(rng.choice([256, 1024])), "Precision": {"table": _type(rng, False)}}
    if rng.random() < 0.2:  # drawn last so that the draws above stay what they were
        case.n_const = 6  # mean pooling divides by a number that is not a power of two
    return case


def _layer_names(case: Case) -> dict[str, list[str]]:
    dense = [f"phi_{i}" for i in range(len(case.widths))] + [f"rho_{i}" for i in range(len(case.rho))] + ["out"]
    act = [f"{n}_act" for n in dense[:-1]]
    return {"dense": dense, "act": act, "pool": ["pool"] if case.kind == "deepsets" else []}


def build_model(case: Case) -> Any:
    """The Keras/QKeras model of ``case`` with seeded random (and pruned) weights; outputs logits (and softmax)."""
    from tensorflow import keras

    rng = np.random.default_rng(case.seed + 10_000)
    shape = (case.n_const, case.n_feat) if case.kind == "deepsets" else (case.n_feat * 2,)
    inp = keras.Input(shape=shape, name="input_1")
    bits = int(rng.integers(4, 9))

    def dense(units: int, name: str) -> Any:
        if not case.qat:
            return keras.layers.Dense(units, name=name)
        from qkeras import QDense, quantized_bits

        q = quantized_bits(bits, int(rng.integers(0, 2)), alpha=1)
        return QDense(units, kernel_quantizer=q, bias_quantizer=q, name=name)

    def act(name: str) -> Any:
        if not case.qat:
            return keras.layers.Activation("relu", name=name)
        from qkeras import QActivation, quantized_bits, quantized_relu

        if rng.random() < 0.25:
            return QActivation(quantized_bits(bits + 2, 2, alpha=1), name=name)
        return QActivation(quantized_relu(bits, int(rng.integers(0, 4))), name=name)

    h = inp
    for i, width in enumerate(case.widths):
        h = act(f"phi_{i}_act")(dense(width, f"phi_{i}")(h))
    if case.kind == "deepsets":
        pool = keras.layers.GlobalAveragePooling1D if case.aggregation == "mean" else keras.layers.GlobalMaxPooling1D
        h = pool(name="pool")(h)
        for i, width in enumerate(case.rho):
            h = act(f"rho_{i}_act")(dense(width, f"rho_{i}")(h))
    logits = dense(case.n_out, "out")(h)
    if case.head == "classification":
        outputs = [logits, keras.layers.Activation("softmax", name="softmax")(logits)]
    elif case.head == "sigmoid":
        outputs = [logits, keras.layers.Activation("sigmoid", name="sigmoid")(logits)]
    else:
        outputs = [logits]
    model = keras.Model(inp, outputs)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        fan_in = weights[0].shape[0]
        new = [rng.normal(0, 1.5 / np.sqrt(fan_in), w.shape) for w in weights]
        new[0] = np.where(rng.random(new[0].shape) < case.sparsity, 0.0, new[0])
        layer.set_weights(new)
    return model


def inputs(case: Case, n: int) -> np.ndarray:
    """``n`` seeded samples; heavy tails so that the input type saturates or wraps on some."""
    rng = np.random.default_rng(case.seed + 20_000)
    shape = (n, case.n_const, case.n_feat) if case.kind == "deepsets" else (n, case.n_feat * 2)
    return (rng.standard_t(3, size=shape) * case.input_scale).astype(np.float32)


def hls_config(case: Case, model: Any) -> dict[str, Any]:
    import hls4ml

    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=case.backend)
    config["Model"].update({"Precision": case.default, "Strategy": case.strategy, "ReuseFactor": case.reuse})
    for section in config["LayerName"].values():
        if "ReuseFactor" in section:
            section["ReuseFactor"] = case.reuse
        precision = section.get("Precision")
        if not case.qat and isinstance(precision, dict):
            for kind in ("weight", "bias", "result"):
                if kind in precision:
                    precision[kind] = case.default
    for name, override in case.precision.items():
        section = config["LayerName"].setdefault(name, {})
        if not isinstance(section.get("Precision"), dict):
            section["Precision"] = {}
        section["Precision"].update(override["Precision"])
    head_layer = {"classification": "softmax", "sigmoid": "sigmoid"}.get(case.head)
    if head_layer:
        section = config["LayerName"].setdefault(head_layer, {})
        if not isinstance(section.get("Precision"), dict):
            section["Precision"] = {}
        for key, value in case.softmax.items():
            if key == "Precision":
                section["Precision"].update(value)
            else:
                section[key] = value
    return config


def _plain_hls4ml(model: Any, config: dict[str, Any], case: Case, out: Path, log: Path) -> Any:
    """hls4ml's own conversion, with only the toolkit's reuse-factor fix (an invalid one makes the C++ assert)."""
    import hls4ml

    from deepsets_trigger.convert.fixes import FixContext, read_graph
    from deepsets_trigger.convert.fixes.reuse_factor import fix_reuse_factor
    from deepsets_trigger.io import captured_output

    def once() -> Any:
        with captured_output(log):
            return hls4ml.converters.convert_from_keras_model(
                model, hls_config=config, output_dir=str(out / "prj"), backend=case.backend, io_type="io_parallel"
            )

    first = once()
    if not fix_reuse_factor(config, read_graph(first), FixContext(reuse_factor=case.reuse, backend=case.backend)):
        return first
    return once()


def convert_case(case: Case, model: Any, out: Path) -> Any:
    """Convert ``model`` as ``case`` says: the toolkit's ``convert`` or plain hls4ml; returns a ``Conversion``."""
    from deepsets_trigger.config import HLSSettings
    from deepsets_trigger.convert import Conversion, convert
    from deepsets_trigger.precision import parse_precision

    hls = HLSSettings(backend=case.backend, strategy=case.strategy, reuse_factor=case.reuse)
    config = hls_config(case, model)
    log = out / "hls4ml.log"
    if case.toolkit:
        return convert(
            model,
            hls,
            out / "prj",
            mode="qat" if case.qat else "ptq",
            default_precision=parse_precision(case.default),
            calib_x=inputs(case, 256),
            user_hls_config=config,
            log_path=log,
        )
    hls_model = _plain_hls4ml(model, config, case, out, log)
    return Conversion(hls_model, model, [o.name.split("/")[0] for o in model.outputs], config, [], log)


def run_case(case: Case, out: Path, n: int = 256) -> dict[str, Any]:
    """Convert, compile, run the C++ and the twin on ``n`` samples; the :func:`compare` record plus what was run."""
    from deepsets_trigger.convert import compile_model, predict
    from deepsets_trigger.emulate import TwinUnsupported, build_twin, compare

    out.mkdir(parents=True, exist_ok=True)
    conversion = convert_case(case, build_model(case), out)
    x = inputs(case, n)
    try:
        twin = build_twin(conversion.hls_model)
    except TwinUnsupported as exc:
        if "the C++ asserts" not in str(exc):
            raise
        compile_model(conversion)  # the twin refuses a kernel whose C++ assert fails: the C++ must abort
        try:
            predict(conversion, x)
        except RuntimeError:
            return {
                "samples": 0,
                "mismatched_samples": 0,
                "max_abs_diff": 0.0,
                "exact_path_layers": [],
                "refused": str(exc),
            }
        raise AssertionError(f"the twin refused ({exc}) but the C++ ran") from exc
    compile_model(conversion)
    record = compare(twin.predict(x), predict(conversion, x))
    exact_layers = [name for name, plan in twin.plans.items() if "exact:" in plan or "one by one" in plan]
    return {**record, "exact_path_layers": exact_layers, "conversion": conversion, "twin": twin, "x": x}
