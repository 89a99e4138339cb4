"""The core's extension points: model families, data sources and CLI commands.

A plugin is a module with a ``register()`` function that adds to these registries (and, for
hls4ml fixes, to :mod:`deepsets_trigger.convert.fixes`). Plugins are found through the
``deepsets_trigger.plugins`` entry-point group — the toolkit's own DeepSets and sources
(:mod:`deepsets_trigger.builtin`) and ``gnn_keras`` are registered that way in ``setup.cfg`` — and
the ``DEEPSETS_TRIGGER_PLUGINS`` environment variable (comma-separated module names, e.g. a test's
family; study workers inherit it). They load once, on the first look-up; registering is cheap
(builders import TensorFlow only when called).

The core never names a family or a source: it asks this module.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deepsets_trigger.errors import ToolkitError

ENTRY_POINT_GROUP = "deepsets_trigger.plugins"
PLUGINS_ENV = "DEEPSETS_TRIGGER_PLUGINS"


@dataclass(frozen=True)
class ModelFamily:
    """What the core needs from a model family (``model.kind: <name>``).

    Attributes:
        name: the ``model.kind`` value.
        config: dataclass of the ``model`` section (a subclass of ``config.ModelConfig``); its fields
            are the valid keys and its ``validated(cfg)`` the family's rules.
        build: ``(cfg, input_shapes, n_outputs) -> keras.Model``, untrained (the seed is set before
            the call).
        load_data: ``(cfg) -> Dataset``; ``None``: the core's set loader over ``data.source``.
        check: ``(keras_model, hls_settings, hls_config | None) -> None``, raising ``ToolkitError``
            for what the conversion cannot do faithfully; runs before training and before conversion.
        compare: ``(dataset, output_names, keras_out, firmware_out) -> result fields``; ``None``: the
            core's classification / regression comparison.
        describe: ``(cfg) -> result fields`` describing the architecture (e.g. ``width``).
        custom_objects: ``() -> {name: class}`` the family's saved models need to load.
        opaque_layers: hls4ml layer classes that ``diagnose`` can only trace as one block.
        hls4ml_extension: ``() -> None`` registering the family's own layers with hls4ml (its
            Extension API: parser, layer, templates, C++ header); called before every conversion, so
            it must be idempotent and cheap after the first call (import hls4ml inside it).
        layer_cost: ``(hls_layer, ctx) -> row | None``, the analytic cost of an hls4ml layer class the
            core's resource model does not know (``ctx``: ``io_type``, ``clock_period``, ``family``);
            a row has ``lut, ff, dsp, bram, latency_cycles, ii, bops`` (and ``kernel``); ``None``:
            not the family's layer.
    """

    name: str
    config: type
    build: Callable[[Any, Any], Any]
    load_data: Callable[[Any], Any] | None = None
    check: Callable[[Any, Any], None] | None = None
    compare: Callable[..., dict[str, Any]] | None = None
    describe: Callable[[Any], dict[str, Any]] | None = None
    custom_objects: Callable[[], dict[str, Any]] | None = None
    opaque_layers: tuple[str, ...] = ()
    hls4ml_extension: Callable[[], None] | None = None
    layer_cost: Callable[[Any, dict[str, Any]], dict[str, Any] | None] | None = None


@dataclass(frozen=True)
class DataSource:
    """A ``data.source``: its section dataclass and ``load(data_section) -> (x, y, class_names)``.

    ``load`` returns raw arrays (x: (N, C, F) sets, y: one-hot or targets); splitting and
    normalisation are the core's. Sources that feed graph families return what that family's
    ``load_data`` expects and may leave ``load`` as ``None``.
    """

    name: str
    config: type
    load: Callable[[Any], tuple[Any, Any, tuple[str, ...]]] | None = None


@dataclass(frozen=True)
class Command:
    """A CLI command: ``add(subparsers, data_subparsers)`` adds its parser (handler in ``func``)."""

    name: str
    add: Callable[[Any, Any], None]


_FAMILIES: dict[str, ModelFamily] = {}
_SOURCES: dict[str, DataSource] = {}
_COMMANDS: dict[str, Command] = {}
_loaded = False


def register_family(family: ModelFamily) -> None:
    """Make ``family`` available as ``model.kind: <family.name>``."""
    _FAMILIES[family.name] = family


def register_source(source: DataSource) -> None:
    """Make ``source`` available as ``data.source: <source.name>``."""
    _SOURCES[source.name] = source


def register_command(command: Command) -> None:
    """Add a CLI command (its parser is built with the others)."""
    _COMMANDS[command.name] = command


def load_plugins() -> None:
    """Import every plugin once: entry points first, then ``DEEPSETS_TRIGGER_PLUGINS``."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from importlib.metadata import entry_points

    found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name != "builtin", ep.name))
    for ep in found:
        ep.load()()
    for name in filter(None, (n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(","))):
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ToolkitError(f"{PLUGINS_ENV}: cannot import plugin {name!r} ({exc}); fix the module name.") from None
        module.register()


def families() -> dict[str, ModelFamily]:
    load_plugins()
    return dict(_FAMILIES)


def sources() -> dict[str, DataSource]:
    load_plugins()
    return dict(_SOURCES)


def commands() -> dict[str, Command]:
    load_plugins()
    return dict(_COMMANDS)


def family(kind: str) -> ModelFamily:
    """The family of ``model.kind``; unknown kinds name the registered ones."""
    known = families()
    if kind not in known:
        raise ToolkitError(f"model.kind: {kind!r} is not one of {', '.join(map(repr, sorted(known)))}.")
    return known[kind]


def source(name: str) -> DataSource:
    """The ``data.source`` called ``name``; unknown names list the registered ones."""
    known = sources()
    if name not in known:
        raise ToolkitError(f"data.source: {name!r} is not one of {', '.join(map(repr, sorted(known)))}.")
    return known[name]


def custom_objects() -> dict[str, Any]:
    """Every family's Keras classes (what a saved model of any family needs to load)."""
    objects: dict[str, Any] = {}
    for fam in families().values():
        if fam.custom_objects is not None:
            objects.update(fam.custom_objects())
    return objects


def opaque_layers() -> set[str]:
    """hls4ml layer classes of registered families that are traced as one block."""
    return {cls for fam in families().values() for cls in fam.opaque_layers}


def register_hls4ml_extensions() -> None:
    """Register every family's own hls4ml layers (``hls4ml_extension``); call before any hls4ml conversion."""
    for fam in families().values():
        if fam.hls4ml_extension is not None:
            fam.hls4ml_extension()


def layer_cost(layer: Any, ctx: dict[str, Any]) -> dict[str, Any] | None:
    """The first family's analytic cost row of an hls4ml layer the core does not model, or ``None``."""
    for fam in families().values():
        row = fam.layer_cost(layer, ctx) if fam.layer_cost is not None else None
        if row is not None:
            return row
    return None
