"""YAML in: one strict reader for configs and hls4ml YAMLs (duplicate keys refused, one-line errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deepsets_trigger.errors import ToolkitError

# Local tags hls4ml's writers emit (``hls4ml/writer/*_writer.py``: ``write_yml`` represents the Keras
# model as ``KerasModel: !keras_model 'path'``; hls4ml's own reader would *load* that model). Read as
# the plain string they tag: the toolkit never follows them. ``!!python/...`` stays refused.
HLS4ML_TAGS = ("!keras_model",)


def _strict_loader(plain_tags: tuple[str, ...] = ()) -> type:
    """``yaml.SafeLoader`` that refuses duplicate keys (YAML lets the last one win silently).

    Args:
        plain_tags: local tags whose scalar is read as a plain string (nothing is constructed).
    """
    import yaml

    class StrictLoader(yaml.SafeLoader):
        pass

    def plain(loader: Any, node: Any) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.tag} must tag a single value (a path)", node.start_mark
            )
        return str(loader.construct_scalar(node))

    for tag in plain_tags:
        StrictLoader.add_constructor(tag, plain)

    def mapping(loader: Any, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (only one may be given)", key_node.start_mark
                )
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return StrictLoader


def hls4ml_loader() -> type:
    """The strict loader for hls4ml YAMLs: :data:`HLS4ML_TAGS` read as plain strings."""
    return _strict_loader(HLS4ML_TAGS)


def parse_yaml(text: str, where: str, loader: type | None = None) -> Any:
    """Parse YAML text; errors become one line naming ``where``, the line and column, and the problem."""
    import yaml

    try:
        return yaml.load(text, Loader=loader or _strict_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ToolkitError(f"{where} is not valid YAML{at}: {problem}; fix the syntax there.") from None


def read_yaml_mapping(path: str | Path, what: str, loader: type | None = None) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; ``what`` names it in errors (e.g. ``--hls-config``)."""
    path = Path(path)
    if path.is_dir():
        raise ToolkitError(f"{what}: {str(path)!r} is a directory; pass the path of a YAML file.")
    if not path.is_file():
        raise ToolkitError(f"{what}: file {str(path)!r} does not exist; pass the path of a YAML file.")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolkitError(f"{what}: cannot read {str(path)!r} as text ({exc}); pass a YAML file.") from None
    raw = parse_yaml(text, f"{what} {str(path)!r}", loader)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ToolkitError(f"{what}: {str(path)!r} must hold a mapping of keys, not a {type(raw).__name__}.")
    return raw
