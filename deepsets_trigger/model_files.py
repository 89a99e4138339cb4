"""Model files are data, never code: loading a Keras model file after checking what it holds.

Keras rebuilds a model from its stored config, and several entries of that config run code: a
``Lambda`` layer carries marshalled Python bytecode (legacy ``.h5`` loading has no ``safe_mode``);
a ``module`` entry makes Keras import that module and take any function from it; ``TFOpLambda``
calls any TensorFlow op (``tf.io.write_file`` included) when the model runs; QKeras evaluates
quantizer strings. :func:`check_model_file` reads the stored config with h5py, zipfile or json —
no Keras — and refuses every serialised object whose class is not a Keras or QKeras class, a
layer registered by a model family, or a class of a module the user trusts explicitly
(``--trust-custom-layers MODULE``, which imports, and so runs, that module). Only then is the
file handed to Keras.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from deepsets_trigger.convert.functional import custom_objects
from deepsets_trigger.errors import ToolkitError

# classes that execute stored code or arbitrary TensorFlow ops however they are registered
_CODE_CARRIERS = {
    "Lambda": "a Lambda layer stores Python bytecode that would run on loading",
    "__lambda__": "a serialised Python lambda would run on loading",
    "TFOpLambda": "a TFOpLambda layer calls an arbitrary TensorFlow op (file writes included)",
    "SlicingOpLambda": "a SlicingOpLambda layer calls an arbitrary TensorFlow op",
}
# value wrappers of the .keras format: data, no code
_DATA_WRAPPERS = {"__tensor__", "__numpy__", "__bytes__", "__typespec__", "__ellipsis__", "__slice__"}
_SAFE_MODULES = ("keras", "tensorflow", "tf_keras", "qkeras", "builtins")
_STRING_FUNCTION_KEYS = ("activation", "quantizer")  # QKeras evaluates these strings
TRUST_HINT = "if you trust its code, pass --trust-custom-layers MODULE (this imports and runs MODULE)"


def stored_config(path: str | Path) -> dict[str, Any]:
    """The model config stored in a ``.h5``, ``.keras`` or Keras JSON file, read without Keras.

    Raises:
        ToolkitError: the file is missing, is a directory, or holds no model config.
    """
    path = Path(path)
    if path.is_dir():
        raise ToolkitError(
            f"--model {str(path)!r} is a directory (a TensorFlow SavedModel?); save the model as .h5 or .keras."
        )
    if not path.is_file():
        raise ToolkitError(f"--model: file {str(path)!r} does not exist.")
    try:
        if path.suffix == ".json":
            text = path.read_text()
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                text = archive.read("config.json").decode()
        else:
            import h5py

            with h5py.File(path, "r") as f:
                text = f.attrs.get("model_config")
            if text is None:
                raise ToolkitError(
                    f"--model {str(path)!r} holds weights but no model architecture; pass the full model "
                    "(model.save('m.h5')), or its JSON with --weights."
                )
            text = text.decode() if isinstance(text, bytes) else str(text)
        config = json.loads(text)
    except ToolkitError:
        raise
    except (OSError, KeyError, ValueError, UnicodeDecodeError) as exc:
        raise ToolkitError(
            f"--model {str(path)!r} is not a Keras model file ({type(exc).__name__}: {str(exc)[:200]}); "
            "pass a Keras .h5 or .keras file, or a Keras JSON with --weights."
        ) from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise ToolkitError(f"--model {str(path)!r} holds no Keras model config; pass a Keras .h5, .keras or JSON.")
    return config


def _objects(node: Any, where: str = "model") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every serialised object (a mapping with ``class_name``) in ``node``, with a readable location."""
    if isinstance(node, dict):
        if "class_name" in node:
            name = node.get("config", {}).get("name") if isinstance(node.get("config"), dict) else None
            where = f"layer {name!r}" if name else where
            yield where, node
        for value in node.values():
            yield from _objects(value, where)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value, where)


def known_classes(extra: dict[str, Any]) -> set[str]:
    """Class names Keras and QKeras define (minus the code carriers), plus ``extra`` (families, trusted)."""
    import inspect

    from qkeras.utils import _add_supported_quantized_objects
    from tensorflow import keras

    names = {"Functional", "Sequential", "Model", "function", *_DATA_WRAPPERS}
    for namespace in (
        keras.layers,
        keras.initializers,
        keras.regularizers,
        keras.constraints,
        keras.activations,
        keras.optimizers,
        keras.losses,
        keras.metrics,
    ):
        names.update(n for n, obj in vars(namespace).items() if inspect.isclass(obj) or inspect.isfunction(obj))
    qkeras_objects: dict[str, Any] = {}
    _add_supported_quantized_objects(qkeras_objects)
    names.update(qkeras_objects)
    names.update(extra)
    # a class registered with keras.saving.register_keras_serializable is stored as "package>Name"
    names.update(keras.saving.get_registered_name(obj) for obj in extra.values() if inspect.isclass(obj))
    return names - set(_CODE_CARRIERS)


def _activation_names() -> set[str]:
    import inspect

    from qkeras.utils import _add_supported_quantized_objects
    from tensorflow import keras

    objects: dict[str, Any] = {}
    _add_supported_quantized_objects(objects)
    return set(objects) | {n for n, f in vars(keras.activations).items() if inspect.isfunction(f)}


def scan_config(config: dict[str, Any], allowed: set[str], trusted_modules: Sequence[str] = ()) -> None:
    """Refuse the first serialised object that could run code or is of an unknown class.

    Raises:
        ToolkitError: naming the layer, its class and the fix.
    """
    modules = (*_SAFE_MODULES, *trusted_modules)
    functions: set[str] | None = None
    for where, obj in _objects(config):
        cls = str(obj.get("class_name"))
        if cls in _CODE_CARRIERS:
            raise ToolkitError(
                f"the model file's {where} is a {cls}: {_CODE_CARRIERS[cls]}, so the file is refused; rebuild the "
                "model with Keras/QKeras layers only (model files are data, never code)."
            )
        module = obj.get("module")
        if module and not any(str(module) == m or str(module).startswith(m + ".") for m in modules):
            raise ToolkitError(
                f"the model file's {where} ({cls}) names module {module!r}, which Keras would import; refused — "
                f"{TRUST_HINT}."
            )
        if cls not in allowed:
            raise ToolkitError(
                f"the model file's {where} has class {cls!r}, which is not a Keras or QKeras class nor a layer "
                f"registered by a model family; {TRUST_HINT}."
            )
        inner = obj.get("config")
        for key, value in inner.items() if isinstance(inner, dict) else ():
            if isinstance(value, str) and key.endswith(_STRING_FUNCTION_KEYS):
                functions = functions if functions is not None else _activation_names() | allowed
                function = value.split("(", 1)[0].strip()
                if function not in functions:
                    raise ToolkitError(
                        f"the model file's {where} sets {key} to {value!r}: {function!r} is not a QKeras quantizer "
                        "or Keras activation; refused (QKeras would evaluate it)."
                    )


def trusted_objects(modules: Sequence[str]) -> dict[str, Any]:
    """Import each trusted module (a module name or a ``.py`` path) and collect its Keras layer classes.

    A module may define ``custom_objects`` (a dict, or a function returning one); otherwise every
    ``keras.layers.Layer`` subclass defined in it is taken. A module that defines
    ``register_hls4ml()`` has it called (its layers' hls4ml Extension API registration).

    Raises:
        ToolkitError: a module cannot be imported, defines no layer, or its ``register_hls4ml()`` fails.
    """
    import inspect

    from tensorflow import keras

    objects: dict[str, Any] = {}
    for ref in modules:
        try:
            if ref.endswith(".py"):
                spec = importlib.util.spec_from_file_location(Path(ref).stem, ref)
                if spec is None or spec.loader is None or not Path(ref).is_file():
                    raise ImportError(f"no file {ref}")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            else:
                module = importlib.import_module(ref)
        except Exception as exc:  # a user's module may fail in any way on import
            raise ToolkitError(
                f"--trust-custom-layers {ref!r} cannot be imported ({type(exc).__name__}: {exc}); pass an importable "
                "module name or the path of a .py file."
            ) from None
        found = getattr(module, "custom_objects", None)
        found = found() if callable(found) else found
        if not isinstance(found, dict):
            found = {
                name: obj
                for name, obj in vars(module).items()
                if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer) and obj.__module__ == module.__name__
            }
        if not found:
            raise ToolkitError(
                f"--trust-custom-layers {ref!r} defines no Keras layer class (and no custom_objects); "
                "pass the module that defines the model's custom layers."
            )
        _register_hls4ml(module, ref)
        objects.update(found)
    return objects


def _register_hls4ml(module: Any, ref: str) -> None:
    """Call the trusted module's ``register_hls4ml()``, if it has one (errors become one line)."""
    register = getattr(module, "register_hls4ml", None)
    if not callable(register):
        return
    try:
        register()
    except Exception as exc:  # a user's registration may fail in any way
        raise ToolkitError(
            f"--trust-custom-layers {ref!r}: its register_hls4ml() failed ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); fix the module's hls4ml registration."
        ) from None


def module_names(objects: dict[str, Any]) -> list[str]:
    """Modules that define ``objects`` (so their ``module`` entries in a config are accepted)."""
    return sorted({getattr(obj, "__module__", "") for obj in objects.values()} - {""})


def check_model_file(path: str | Path, registered: dict[str, Any]) -> None:
    """Refuse ``path`` unless every object in its stored config is a known, code-free class.

    Args:
        path: a ``.h5``, ``.keras`` or Keras JSON model file.
        registered: custom objects that may appear (model families' layers, trusted modules).

    Raises:
        ToolkitError: the file holds a code carrier, an unknown class or a foreign module.
    """
    scan_config(stored_config(path), known_classes(registered), module_names(registered))


def load_keras_model(path: str | Path, weights: str | Path | None = None, trusted: Sequence[str] = ()) -> Any:
    """Load ``.h5``/``.keras`` (with QKeras objects) or Keras JSON + HDF5 weights.

    The stored config is checked first (:mod:`deepsets_trigger.model_files`): a file with a
    ``Lambda`` or an unknown class is refused before Keras deserialises anything. ``trusted``
    modules (``--trust-custom-layers``) are imported and their layer classes accepted.

    Raises:
        ToolkitError: missing or unreadable files, or a model that could run code.
    """

    path = Path(path)
    if path.suffix == ".json" and weights is None:
        raise ToolkitError(f"--model {str(path)!r} is Keras JSON: also pass --weights WEIGHTS.h5.")
    if weights is not None and not Path(weights).is_file():
        what = "is a directory" if Path(weights).is_dir() else "does not exist"
        raise ToolkitError(f"--weights: {str(weights)!r} {what}; pass an HDF5 weights file.")
    objects = {**custom_objects(), **trusted_objects(trusted)}
    check_model_file(path, objects)
    from tensorflow import keras

    try:
        if path.suffix == ".json":
            model = keras.models.model_from_json(path.read_text(), custom_objects=objects)
            model.load_weights(str(weights))
        else:
            kwargs = {"safe_mode": True} if path.suffix == ".keras" else {}
            model = keras.models.load_model(str(path), custom_objects=objects, compile=False, **kwargs)
            if weights is not None:
                model.load_weights(str(weights))
    except Exception as exc:  # Keras raises OSError, ValueError, KeyError... for bad files
        raise ToolkitError(
            f"cannot load the model from {str(path)!r}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}. "
            "Pass a Keras .h5 (QKeras layers are known) or a Keras JSON with --weights."
        ) from None
    return model


def save_model(model: Any, path: Path) -> None:
    """Save as Keras HDF5, the format hls4ml users exchange."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras calls HDF5 "legacy"; it is what hls4ml users exchange
        model.save(path)
