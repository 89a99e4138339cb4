"""The toolkit's own plugin: the DeepSets family and the built-in data sources (entry point ``builtin``)."""

from __future__ import annotations

from deepsets_trigger import registry
from deepsets_trigger.data.sources import builtin_sources
from deepsets_trigger.models import deepsets


def register() -> None:
    registry.register_family(deepsets.FAMILY)
    for source in builtin_sources():
        registry.register_source(source)
