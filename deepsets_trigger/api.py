"""The toolkit's Python API: one import for notebooks and scripts.

Everything the command line does is here as a function over the same building blocks, so a
notebook never reaches into private modules::

    from deepsets_trigger import api

    cfg = api.make_config({"data": {"source": "pythia", "n_jets": 6000}, "model": {"kind": "deepsets"}})
    data = api.load_data(cfg)
    model, history = api.train(api.build_model(cfg, data), data, cfg)
    run = api.run(cfg, "runs/first", model=model)   # convert, emulate (C++), compare, record
    run.result["logit_agreement"], run.keras, run.firmware

``run`` is ``deepsets-trigger run``, ``study``/``report`` the grid commands, ``diagnose`` and
``resources`` the commands of the same name; :class:`Run` reads back a run directory. The plots
the notebooks draw (ROC overlays, weight histograms) are in :mod:`deepsets_trigger.figures`.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepsets_trigger import registry
from deepsets_trigger.config import Config, config_from_dict, read_yaml_mapping, set_path
from deepsets_trigger.data import Dataset, load_data
from deepsets_trigger.errors import ToolkitError

__all__ = [
    "Config",
    "Dataset",
    "Run",
    "ToolkitError",
    "build_model",
    "diagnose",
    "hls_model_of",
    "load_data",
    "load_run",
    "make_config",
    "report",
    "report_figures",
    "resources",
    "results",
    "run",
    "study",
    "train",
]


def make_config(raw: dict[str, Any] | str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """A validated, resolved config (every default filled in).

    Args:
        raw: the config as a mapping, or the path of a YAML file; ``None`` for all defaults.
        overrides: ``{"quantization.bits": 8, ...}``, applied like the CLI's ``--set``.

    Returns:
        The frozen :class:`Config`.

    Raises:
        ToolkitError: an unknown key or a bad value (the message lists the valid choices).
    """
    import copy

    if isinstance(raw, str | Path):
        raw = read_yaml_mapping(raw, "config file")
    raw = copy.deepcopy(raw or {})
    for key, value in (overrides or {}).items():
        set_path(raw, key, value)
    return config_from_dict(raw)


def build_model(cfg: Config, data: Dataset) -> Any:
    """The untrained Keras/QKeras model of ``cfg.model`` for ``data``'s shapes (seeded by ``train.seed``).

    Args:
        cfg: the config (its ``model``, ``quantization`` for QAT, ``train.seed``).
        data: the dataset the model will see (input shapes, number of outputs).

    Returns:
        A Keras model (not compiled).

    Raises:
        ToolkitError: a model the conversion would refuse (checked before training).
    """
    from deepsets_trigger.train import set_seeds

    family = registry.family(cfg.model.kind)
    set_seeds(cfg.train.seed)  # the initial weights are drawn here
    model = family.build(cfg, data.input_shapes, data.n_outputs)
    if family.check is not None:
        family.check(model, cfg.hls, None)
    return model


def train(model: Any, data: Dataset, cfg: Config, progress: bool = False) -> tuple[Any, dict[str, list[float]]]:
    """Train ``model`` as ``run`` does (early stopping, LR schedule, the ``pruning`` section).

    Args:
        model: from :func:`build_model`.
        data: the dataset (its training and validation splits are used).
        cfg: the config (``train``, ``pruning``, the family's loss weights).
        progress: show a progress bar per epoch.

    Returns:
        The trained model (pruning wrappers stripped) and the history (per-epoch lists).

    Raises:
        deepsets_trigger.train.TrainingFailed: the loss diverged.
    """
    from deepsets_trigger.train import train_model

    weights = getattr(cfg.model, "loss_weights", None) if len(data.heads) > 1 else None
    return train_model(model, data, cfg.train, cfg.pruning, progress=progress, loss_weights=weights)


@dataclass
class Run:
    """A ``run`` output directory read back: the record, the outputs of both sides, the resources.

    ``keras`` and ``firmware`` are the outputs on the test samples (the classifying head's, else the
    model's last output: probabilities, a score or a regression value), ``y`` its labels when the data
    have them;
    ``arrays`` holds everything of ``predictions.npz`` (per output of a multi-output model
    ``keras_<name>``/``firmware_<name>``/``y_<name>``, and test extras such as ``energy_test``).
    """

    path: Path
    result: dict[str, Any]
    keras: np.ndarray | None = None
    firmware: np.ndarray | None = None
    y: np.ndarray | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def output(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(Keras, firmware) values of the output ``name`` of a multi-output model, e.g. ``regression``.

        Raises:
            ToolkitError: the run saved no output of that name.
        """
        if f"keras_{name}" not in self.arrays:
            have = sorted(k[6:] for k in self.arrays if k.startswith("keras_"))
            raise ToolkitError(f"{self.path} saved no output {name!r}; it has {have or 'only the last output'}.")
        return self.arrays[f"keras_{name}"], self.arrays[f"firmware_{name}"]

    @property
    def notes(self) -> list[str]:
        """What the toolkit changed or noticed during the conversion (``conversion_notes``)."""
        return list(self.result.get("conversion_notes") or [])

    @property
    def hls_config(self) -> dict[str, Any]:
        """The final hls4ml config (fixes included), as written to ``hls4ml_config.yml``."""
        return read_yaml_mapping(self.path / "hls4ml_config.yml", "the run's hls4ml_config.yml")

    @property
    def project_dir(self) -> Path:
        """The hls4ml project (run ``build()`` on it where Vivado/Vitis exist)."""
        return self.path / "hls4ml_prj"

    def model(self) -> Any:
        """The Keras model the run converted (trained, pruning stripped)."""
        from deepsets_trigger.model_files import load_keras_model

        return load_keras_model(self.path / "model.h5")


def load_run(path: str | Path) -> Run:
    """Read a directory written by :func:`run` (or ``deepsets-trigger run``).

    Raises:
        ToolkitError: ``path`` holds no ``result.json``.
    """
    path = Path(path)
    if not (path / "result.json").is_file():
        raise ToolkitError(f"{path} holds no result.json: pass a directory written by run().")
    result = json.loads((path / "result.json").read_text())
    found = Run(path, result)
    if (path / "predictions.npz").is_file():
        with np.load(path / "predictions.npz") as p:
            found.arrays = {k: p[k] for k in p.files}
        found.keras, found.firmware, found.y = (found.arrays.get(k) for k in ("keras", "firmware", "y"))
    if (path / "resources.json").is_file():
        found.resources = json.loads((path / "resources.json").read_text())
    return found


@contextlib.contextmanager
def _model_file(model: Any) -> Iterator[str | None]:
    """A Keras model object as a temporary ``.h5`` file (the pipeline reads models from files)."""
    if model is None or isinstance(model, str | Path):
        yield None if model is None else str(model)
        return
    from deepsets_trigger.model_files import save_model

    with tempfile.TemporaryDirectory(prefix="deepsets-trigger-model-") as tmp:
        path = Path(tmp) / f"{getattr(model, 'name', None) or 'model'}.h5"  # the record's model name
        save_model(model, path)
        yield str(path)


def run(
    cfg: Config,
    out: str | Path,
    model: Any = None,
    *,
    hls_config: str | Path | None = None,
    inputs: str | Path | None = None,
    weights: str | Path | None = None,
    trusted: tuple[str, ...] = (),
    progress: bool = False,
) -> Run:
    """One point, like ``deepsets-trigger run``: (train,) convert, emulate, compare, record into ``out``.

    Args:
        cfg: the config. Its data are the evaluation samples unless ``inputs`` is given.
        out: the output directory (replaced only when the run finishes; see the README).
        model: ``None`` trains the config's model; a Keras model object or a model file
            (``.h5``/``.keras``/JSON with ``weights``) is converted as it is (``run --model``).
        hls_config: your hls4ml YAML to start from (``--hls-config``; with ``model``).
        inputs: samples for ``model`` (``.npy`` or text), instead of the config's test split.
        weights: HDF5 weights of a JSON ``model``.
        trusted: modules whose custom layers may be loaded (``--trust-custom-layers``).
        progress: show progress bars.

    Returns:
        The run read back (:class:`Run`); ``run.result["status"]`` is ``ok`` or ``failed``.

    Raises:
        ToolkitError: bad input (nothing written).
    """
    from deepsets_trigger.pipeline import External, run_point

    if model is None and (hls_config or inputs or weights or trusted):
        raise ToolkitError("hls_config, inputs, weights and trusted go with model=: pass the model to convert.")
    with _model_file(model) as path:
        external = None
        if path is not None:
            as_str = [None if v is None else str(v) for v in (weights, hls_config, inputs)]
            external = External(path, *as_str, None, tuple(trusted))
        run_point(cfg, out, external=external, progress=progress)
    return load_run(out)


def hls_model_of(run_dir: str | Path, work_dir: str | Path) -> Any:
    """The hls4ml model of a run, converted again from its final ``hls4ml_config.yml`` into ``work_dir``.

    Call ``.build(csim=False, synth=True)`` on it where Vivado/Vitis HLS is on PATH.

    Raises:
        ToolkitError: ``run_dir`` holds no converted model.
    """
    from deepsets_trigger.diagnose import load_run as load_converted

    Path(work_dir).mkdir(parents=True, exist_ok=True)
    return load_converted(run_dir, Path(work_dir))[2].hls_model


def study(raw: dict[str, Any] | str | Path, out: str | Path, workers: int | None = None, resume: bool = False) -> Any:
    """A grid study, like ``deepsets-trigger study`` (one fresh process per point).

    Args:
        raw: the study config (mapping or YAML path) with its ``grid`` section.
        out: the study directory (``results.sqlite``, ``results.csv``, ``points/``).
        workers: local worker processes (default: the number of cores).
        resume: keep finished points of an existing study in ``out``.

    Returns:
        A :class:`deepsets_trigger.study.StudySummary` (``ok``, ``failed``, ``wall_s``, ...).

    Raises:
        ToolkitError: a bad config or grid, a directory another study holds.
    """
    from deepsets_trigger.study import run_study

    if isinstance(raw, str | Path):
        raw = read_yaml_mapping(raw, "study config")
    return run_study(raw, out, workers=workers, resume=resume)


def results(study_dir: str | Path) -> Any:
    """The study's results as a pandas DataFrame (one row per point, the CSV columns)."""
    from deepsets_trigger.study import load_results

    return load_results(study_dir)


@contextlib.contextmanager
def _keep_backend() -> Iterator[None]:
    """The report draws with Agg; give a notebook its inline backend (and figure display) back afterwards."""
    import matplotlib

    backend = matplotlib.get_backend()
    try:
        yield
    finally:
        if matplotlib.get_backend() != backend:
            matplotlib.use(backend)
            _reenable_inline(backend)


def _reenable_inline(backend: str) -> None:
    """Switching away from the inline backend unregisters IPython's figure printer: register it again."""
    if "inline" not in backend:
        return
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.run_line_magic("matplotlib", "inline")


def report(study_dir: str | Path) -> Path:
    """Write the study's ``plots/`` and ``report.md`` (like ``deepsets-trigger report``); return the report path."""
    from deepsets_trigger.report import make_report

    with _keep_backend():
        return make_report(study_dir)


def report_figures(study_dir: str | Path) -> dict[str, Any]:
    """The report's plots as matplotlib figures (to show inline); a plot without data is left out."""
    from deepsets_trigger.report import PLOTS, plot_roc

    df = results(study_dir)
    figures = {name: fn(df) for name, (fn, _) in PLOTS.items()}
    figures["roc"] = plot_roc(df, Path(study_dir))
    return {name: fig for name, fig in figures.items() if fig is not None}


def diagnose(
    run_dir: str | Path,
    out: str | Path | None = None,
    n_samples: int = 1000,
    advise: bool = False,
    target_ratio: float = 0.99,
) -> dict[str, Any]:
    """Which layer makes the firmware differ from Keras, and why (``deepsets-trigger diagnose``).

    Args:
        run_dir: a run directory.
        out: where ``diagnosis.json``/``.md`` and the plots go (default: ``run_dir``).
        n_samples: test samples to trace.
        advise: also propose and verify a per-layer precision (PTQ classification models).
        target_ratio: the advisor's target accuracy ratio.

    Returns:
        The ``diagnosis.json`` record (``culprit_layer``, ``cause``, ``layers``, ``advice``).

    Raises:
        ToolkitError: ``run_dir`` holds no converted model.
    """
    from deepsets_trigger.diagnose import diagnose_run

    with _keep_backend(), contextlib.redirect_stdout(io.StringIO()):  # Keras/hls4ml trace progress lines
        return diagnose_run(run_dir, out, n_samples, None, advise, target_ratio)


def resources(path: str | Path, source: str | None = None) -> dict[str, Any]:
    """Resources and latency of a run directory (``analytic``/``yosys``) or of Vivado/Vitis reports.

    Args:
        path: a run directory, or a directory holding HLS/Vivado synthesis reports.
        source: ``analytic``, ``yosys`` or ``vivado`` (default: analytic for a run, vivado for reports).

    Returns:
        Totals (``lut, ff, dsp, bram, latency_cycles, ii, bops, resource_source``) and per-layer ``layers``.

    Raises:
        ToolkitError: no run and no reports at ``path``.
    """
    from deepsets_trigger.resources import resources_of

    return resources_of(path, source)
